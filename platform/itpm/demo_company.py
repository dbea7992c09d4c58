"""The fictional company `itpm demo` writes: its people, clients, projects and the words of its tickets.

Plain data, kept apart from the generator (`itpm.demo`) so that either reads
on its own. Days are counted from the day the demo is loaded (negative: in
the past), so the data always looks current. Texts are in the language the
client works in: Chinese for most, English for the German-owned plant.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Member:
    """A person of the company or of a client: login, names, role and where they belong.

    A Chinese name is given in characters, then in pinyin (lists show "王磊 Wang Lei").
    """

    username: str
    first_name: str
    last_name: str
    role: str
    department: str | None = None
    team: str | None = None
    locale: str = "zh"
    timezone: str = "Asia/Shanghai"
    skills: tuple[str, ...] = ()
    #: Roles held beside `role` (a client's lead user is their organisation's manager and approver too).
    extra_roles: tuple[str, ...] = ()

    @property
    def roles(self) -> tuple[str, ...]:
        return (self.role, *self.extra_roles)


@dataclass(frozen=True)
class ClientOrg:
    key: str
    name: str
    short_name: str
    industry: str
    tier: str
    address: str
    phone: str
    domain: str
    account_manager: str
    language: str
    users: tuple[Member, ...]
    #: The organisation this one belongs to (its key): the parent's client managers see this one's too.
    parent: str | None = None


@dataclass(frozen=True)
class ProjectBrief:
    """One project: who runs it, its dates (days from today), money, and how it is going."""

    key: str
    client: str
    kind: str  # a value of the project type's `project_type`
    department: str
    manager: str
    lead: str
    team: tuple[str, ...]
    name: str
    description: str
    language: str
    created: int
    start: int
    due: int
    #: The days each gate was passed, in order: planning, execution, monitoring, closing, closed.
    gates: tuple[int, ...]
    budget: int
    contract: int
    #: Spent and forecast at completion, as shares of the planned budget, today.
    spent: float
    forecast: float
    progress: int
    health: str
    #: How many days the work runs behind its plan (tasks due in that time are still open).
    slip: int
    modules: tuple[str, ...]
    #: Tasks at full scale; the share of incidents raised against the project.
    tasks: int
    incidents: float
    services: tuple[str, ...]
    sites: tuple[str, ...]
    #: The day the next gate was asked for, still waiting for the department's approval.
    pending_gate: int | None = None
    #: Change requests at full scale.
    changes: int = 0
    notes: dict[str, str] = field(default_factory=dict)


DEPARTMENTS = {
    "delivery_1": ("交付一部", "Delivery Department 1"),
    "delivery_2": ("交付二部", "Delivery Department 2"),
    "managed_services": ("运维服务部", "Managed Services"),
}

#: Teams by name. The six support groups carry the names the incident form's `support_group` uses,
#: so that the starter pack's assignment rule finds people to assign.
TEAMS = {
    "delivery_1_office": ("delivery_1", "交付一部项目管理组", "Delivery 1 project office"),
    "application": ("delivery_1", "应用组", "Application team"),
    "delivery_2_office": ("delivery_2", "交付二部项目管理组", "Delivery 2 project office"),
    "erp": ("delivery_2", "ERP 实施组", "ERP implementation team"),
    "database": ("delivery_2", "数据库组", "Database team"),
    "managed_services_office": ("managed_services", "运维服务管理组", "Service management office"),
    "service_desk": ("managed_services", "服务台", "Service desk"),
    "network": ("managed_services", "网络组", "Network team"),
    "infrastructure": ("managed_services", "基础设施组", "Infrastructure team"),
    "security": ("managed_services", "安全组", "Security team"),
}

D1, D2, MS = "delivery_1", "delivery_2", "managed_services"

#: The staff. The `*.demo` logins are the ones to try each role with; they have real work.
STAFF = (
    Member("admin.demo", "陈静", "Chen Jing", "admin", MS, "managed_services_office"),
    Member("deptadmin.demo", "周建国", "Zhou Jianguo", "department_admin", D1, "delivery_1_office"),
    Member("wu.min", "吴敏", "Wu Min", "department_admin", D2, "delivery_2_office"),
    Member("zheng.hao", "郑浩", "Zheng Hao", "department_admin", MS, "managed_services_office"),
    Member("pm.demo", "王磊", "Wang Lei", "project_manager", D1, "delivery_1_office"),
    Member("liu.yang", "刘洋", "Liu Yang", "project_manager", D1, "delivery_1_office", "en"),
    Member("zhao.li", "赵丽", "Zhao Li", "project_manager", D2, "delivery_2_office"),
    Member("sun.tao", "孙涛", "Sun Tao", "project_manager", D2, "delivery_2_office", "en", "Asia/Singapore"),
    Member("huang.wei", "黄伟", "Huang Wei", "project_manager", MS, "managed_services_office"),
    Member("account.demo", "林晓红", "Lin Xiaohong", "account_manager", D1, "delivery_1_office"),
    Member("he.jun", "何军", "He Jun", "account_manager", D2, "delivery_2_office", "en"),
    Member("xu.na", "徐娜", "Xu Na", "account_manager", MS, "managed_services_office"),
    Member("finance.demo", "马丽娟", "Ma Lijuan", "finance", MS, "managed_services_office"),
    Member("engineer.demo", "张伟", "Zhang Wei", "engineer", D1, "application", skills=("java", "mobile")),
    Member("li.qiang", "李强", "Li Qiang", "engineer", D1, "application", "en", skills=("java", "his")),
    Member("yang.fan", "杨帆", "Yang Fan", "engineer", D1, "application", skills=("frontend", "crm")),
    Member("zhu.lin", "朱琳", "Zhu Lin", "engineer", D1, "application", skills=("testing",)),
    Member("guo.peng", "郭鹏", "Guo Peng", "engineer", D2, "erp", skills=("mes", "java")),
    Member("luo.xin", "罗欣", "Luo Xin", "engineer", D2, "erp", "en", skills=("sap", "abap")),
    Member("gao.yuan", "高远", "Gao Yuan", "engineer", D2, "erp", skills=("integration",)),
    Member("liang.chen", "梁晨", "Liang Chen", "engineer", D2, "database", skills=("oracle", "mysql")),
    Member("song.jia", "宋佳", "Song Jia", "engineer", D2, "database", skills=("postgresql", "mysql")),
    Member("tang.bo", "唐波", "Tang Bo", "engineer", MS, "network", skills=("network", "cisco", "vpn")),
    Member("han.xue", "韩雪", "Han Xue", "engineer", MS, "network", "en", skills=("network", "wifi")),
    Member("feng.kai", "冯凯", "Feng Kai", "engineer", MS, "infrastructure", skills=("linux", "vmware")),
    Member("deng.hui", "邓辉", "Deng Hui", "engineer", MS, "infrastructure", skills=("windows", "backup")),
    Member("cao.yu", "曹宇", "Cao Yu", "engineer", MS, "security", skills=("security", "firewall")),
    Member("support.demo", "彭丽", "Peng Li", "support_agent", MS, "service_desk"),
    Member("jiang.ning", "蒋宁", "Jiang Ning", "support_agent", MS, "service_desk"),
    Member("xie.fang", "谢芳", "Xie Fang", "support_agent", MS, "service_desk", "en"),
)


def _client(
    username: str, first: str, last: str, locale: str = "zh", timezone: str = "Asia/Shanghai"
) -> Member:
    return Member(username, first, last, "client", locale=locale, timezone=timezone)


def _client_lead(
    username: str, first: str, last: str, locale: str = "zh", timezone: str = "Asia/Shanghai"
) -> Member:
    """The first user of a client: sees all of the organisation in the portal and signs off deliverables."""
    return Member(
        username, first, last, "client", locale=locale, timezone=timezone,
        extra_roles=("client_manager", "client_approver"),
    )  # fmt: skip


CLIENTS = (
    ClientOrg(
        "ecb", "华东银行 East China Bank", "华东银行", "finance", "strategic",
        "上海市浦东新区陆家嘴环路 1000 号", "021-6888 1000", "ecb.example.com", "account.demo", "zh",
        (_client_lead("client.demo", "钱志刚", "Qian Zhigang"), _client("kong.yan", "孔燕", "Kong Yan")),
    ),
    ClientOrg(
        "jiangnan", "江南制造集团 Jiangnan Manufacturing Group", "江南制造", "manufacturing", "key",
        "江苏省苏州市工业园区星湖街 88 号", "0512-6260 8800", "jiangnan.example.com", "he.jun", "zh",
        (_client_lead("shen.tao", "沈涛", "Shen Tao"), _client("fang.lei", "方蕾", "Fang Lei")),
    ),
    ClientOrg(
        "rhine", "莱茵汽车零部件（苏州）有限公司 Rhine Auto Parts (Suzhou)", "Rhine Auto Parts", "manufacturing",
        "key", "江苏省苏州市高新区珠江路 520 号", "0512-6807 5200", "rhine-auto.example.com", "he.jun", "en",
        (
            _client_lead("anna.becker", "Anna", "Becker", "en"),
            _client("thomas.wagner", "Thomas", "Wagner", "en", "Europe/Berlin"),
        ),
    ),
    ClientOrg(
        "hospital", "申城第一人民医院 Shencheng First People's Hospital", "申城一院", "healthcare", "key",
        "上海市徐汇区宜山路 600 号", "021-6436 9000", "scfh.example.com", "account.demo", "zh",
        (_client_lead("cai.ming", "蔡明", "Cai Ming"),),
    ),
    ClientOrg(
        "freshharvest", "鲜丰零售连锁 FreshHarvest Retail", "鲜丰零售", "retail", "standard",
        "浙江省杭州市西湖区文三路 199 号", "0571-8821 6600", "freshharvest.example.com", "xu.na", "zh",
        (_client_lead("pan.yue", "潘悦", "Pan Yue"),),
    ),
    ClientOrg(
        "pujiang", "浦江区政务服务中心 Pujiang District Government Service Center", "浦江政务", "government",
        "strategic", "上海市浦江区政通路 1 号", "021-5880 1234", "pujiang-gov.example.com", "he.jun", "zh",
        (_client_lead("xu.wen", "许文", "Xu Wen"), _client("lu.jing", "陆静", "Lu Jing")),
    ),
    ClientOrg(  # a child organisation: East China Bank's client manager (client.demo) sees its project too
        "ecb_sz", "华东银行苏州分行 East China Bank Suzhou Branch", "华东银行苏州分行", "finance", "key",
        "江苏省苏州市工业园区苏州大道东 288 号", "0512-6288 1000", "sz.ecb.example.com", "account.demo", "zh",
        (_client_lead("zhou.min", "周敏", "Zhou Min"),), parent="ecb",
    ),
)  # fmt: skip

OUTSOURCING, IMPLEMENTATION = "outsourcing", "implementation"

PROJECTS = (
    ProjectBrief(
        "ecb_ms", "ecb", OUTSOURCING, MS, "huang.wei", "feng.kai",
        ("feng.kai", "deng.hui", "tang.bo", "cao.yu", "liang.chen", "support.demo"),
        "华东银行核心系统运维外包 / ECB core systems managed services",
        "为华东银行提供核心业务系统、网上银行及数据中心基础设施的 7×24 运维服务，含监控、巡检、变更实施与月度服务报告。",
        "zh", -181, -176, 189, (-178, -168), 3_600_000, 4_300_000, 0.50, 1.0, 49, "green", 0,
        (), 52, 0.30, ("核心业务系统", "网上银行", "柜面系统", "信贷管理系统", "ATM 前置"),
        ("陆家嘴总部", "张江数据中心", "浦西分行"), changes=4,
    ),
    ProjectBrief(
        "ecb_app", "ecb", IMPLEMENTATION, D1, "pm.demo", "engineer.demo",
        ("engineer.demo", "li.qiang", "yang.fan", "zhu.lin", "song.jia"),
        "华东银行手机银行 4.0 升级 / ECB mobile banking 4.0",
        "手机银行 App 4.0 版本升级:新版登录与生物识别、转账汇款重构、理财频道改版，并接入新一代消息推送平台。",
        "zh", -170, -163, -6, (-160, -138, -24), 2_800_000, 3_350_000, 1.02, 1.05, 91, "amber", 14,
        ("登录与认证", "转账汇款", "理财频道", "账户查询", "消息推送", "生物识别"), 110, 0.06,
        ("手机银行", "消息推送平台"), ("陆家嘴总部",), changes=9,
    ),
    ProjectBrief(
        "jn_mes", "jiangnan", IMPLEMENTATION, D2, "zhao.li", "guo.peng",
        ("guo.peng", "gao.yuan", "liang.chen", "song.jia"),
        "江南制造 MES 制造执行系统实施 / Jiangnan MES implementation",
        "在江南制造三个车间上线 MES:生产排程、物料追溯、质量管理与设备管理，并与 SAP 和 WMS 集成。",
        "zh", -176, -170, -12, (-166, -141), 4_500_000, 5_200_000, 1.18, 1.31, 72, "red", 38,
        ("生产排程", "物料追溯", "质量管理", "设备管理", "车间看板", "ERP 接口"), 122, 0.0,
        ("MES",), ("一号车间", "二号车间"), changes=11,
    ),
    ProjectBrief(
        "jn_it", "jiangnan", OUTSOURCING, MS, "huang.wei", "tang.bo",
        ("tang.bo", "han.xue", "feng.kai", "deng.hui", "jiang.ning"),
        "江南制造 IT 基础设施运维 / Jiangnan IT infrastructure managed services",
        "江南制造总部与三个工厂的网络、服务器、桌面终端运维，驻场工程师 2 名，服务台远程支持。",
        "zh", -152, -146, 219, (-149, -140), 1_800_000, 2_150_000, 0.41, 0.98, 40, "green", 0,
        (), 44, 0.22, ("办公网络", "文件服务器", "邮件系统", "VPN", "SAP 服务器"),
        ("苏州总部", "一号工厂", "二号工厂", "三号工厂"), changes=3,
    ),
    ProjectBrief(
        "rh_sap", "rhine", IMPLEMENTATION, D2, "sun.tao", "luo.xin",
        ("luo.xin", "gao.yuan", "song.jia", "guo.peng"),
        "Rhine Auto Parts SAP S/4HANA rollout",
        "Rollout of the group's SAP S/4HANA template to the Suzhou plant: finance, materials management, "
        "sales, production planning and warehouse management, with Golden Tax and local banking interfaces.",
        "en", -131, -124, 61, (-121, -99), 3_200_000, 3_900_000, 0.62, 1.07, 55, "amber", 6,
        ("Finance (FI/CO)", "Materials Management", "Sales & Distribution", "Production Planning",
         "Warehouse Management", "Master data"), 100, 0.0, ("SAP ERP",), ("Suzhou plant",), changes=8,
    ),
    ProjectBrief(
        "rh_desk", "rhine", OUTSOURCING, MS, "huang.wei", "han.xue",
        ("han.xue", "xie.fang", "deng.hui", "cao.yu"),
        "Rhine Auto Parts desktop & network support",
        "Desktop, network and security support for the Suzhou plant (350 users): service desk in English "
        "and Chinese, on-site engineer on weekdays, monthly service review with the IT manager.",
        "en", -122, -116, 249, (-119, -110, -58), 960_000, 1_150_000, 0.35, 0.97, 38, "green", 0,
        (), 40, 0.18, ("Email", "VPN", "Wi-Fi", "File server", "Shop-floor PCs"),
        ("Suzhou plant", "Shanghai sales office", "Warehouse"), changes=2,
    ),
    ProjectBrief(
        "sc_his", "hospital", IMPLEMENTATION, D1, "liu.yang", "li.qiang",
        ("li.qiang", "yang.fan", "zhu.lin", "liang.chen"),
        "申城一院 HIS 医院信息系统升级 / Shencheng Hospital HIS upgrade",
        "医院信息系统(HIS)整体升级:门诊、住院、药房、电子病历，对接 LIS/PACS 与医保结算平台。",
        "zh", -182, -178, -21, (-175, -151, -47, -16), 2_400_000, 2_900_000, 1.09, 1.12, 96, "red", 22,
        ("门诊挂号", "住院管理", "药房管理", "电子病历", "LIS 接口", "医保结算"), 108, 0.05,
        ("HIS", "电子病历", "医保结算"), ("门诊楼", "住院部"), changes=8,
    ),
    ProjectBrief(
        "sc_dc", "hospital", OUTSOURCING, MS, "huang.wei", "feng.kai",
        ("feng.kai", "deng.hui", "cao.yu", "support.demo"),
        "申城一院机房运维外包 / Shencheng Hospital data centre managed services",
        "医院两个机房的服务器、存储、备份与机房环境运维，含 7×24 监控和季度灾备演练。",
        "zh", -92, -86, 279, (-89, -80), 1_200_000, 1_450_000, 0.26, 1.0, 24, "green", 0,
        (), 30, 0.14, ("HIS 数据库服务器", "PACS 存储", "备份系统", "虚拟化平台"), ("主机房", "灾备机房"), changes=2,
    ),
    ProjectBrief(
        "fh_crm", "freshharvest", IMPLEMENTATION, D1, "pm.demo", "yang.fan",
        ("yang.fan", "zhu.lin", "engineer.demo"),
        "鲜丰零售会员营销平台实施 / FreshHarvest loyalty platform",
        "建设会员营销平台:会员档案、积分规则、营销活动、微信小程序，并与 POS 和电商平台打通。",
        "zh", -41, -31, 122, (-29,), 1_300_000, 1_600_000, 0.08, 1.0, 12, "green", 0,
        ("会员档案", "积分规则", "营销活动", "微信小程序", "数据分析"), 46, 0.0, ("会员系统",), ("杭州总部",),
        pending_gate=-2, changes=3,
    ),
    ProjectBrief(
        "fh_net", "freshharvest", OUTSOURCING, MS, "huang.wei", "tang.bo",
        ("tang.bo", "han.xue", "jiang.ning"),
        "鲜丰零售门店网络运维 / FreshHarvest store network support",
        "120 家门店的网络、POS 终端与收银网络运维，门店报障 2 小时远程响应、4 小时上门。",
        "zh", -62, -56, 309, (-59, -51), 720_000, 860_000, 0.16, 1.0, 16, "green", 0,
        (), 30, 0.15, ("门店网络", "POS 收银", "门店 Wi-Fi"), ("西湖店", "滨江店", "萧山店", "余杭店"), changes=1,
    ),
    ProjectBrief(
        "pj_gov", "pujiang", IMPLEMENTATION, D2, "zhao.li", "gao.yuan",
        ("gao.yuan", "guo.peng", "liang.chen", "song.jia"),
        "浦江区一网通办平台实施 / Pujiang one-stop government services platform",
        "建设区级一网通办平台:统一身份认证、事项办理、电子证照、好差评与数据共享交换。",
        "zh", -182, -180, -31, (-178, -160, -72, -41, -33), 1_600_000, 1_900_000, 0.96, 0.96, 100, "green", 0,
        ("统一身份认证", "事项办理", "电子证照", "好差评", "数据共享交换"), 100, 0.0,
        ("一网通办平台",), ("政务服务中心",), changes=5,
    ),
    ProjectBrief(
        "pj_sec", "pujiang", IMPLEMENTATION, D1, "liu.yang", "cao.yu",
        ("cao.yu", "li.qiang"),
        "浦江区数据中心安全加固 / Pujiang data centre security hardening",
        "按等保 2.0 三级要求加固区数据中心:边界防护、主机加固、日志审计与漏洞扫描。",
        "zh", -9, 7, 98, (), 880_000, 1_080_000, 0.0, 1.0, 0, "green", 0,
        ("边界防护", "主机加固", "日志审计"), 12, 0.0, ("数据中心",), ("政务服务中心",), pending_gate=-1,
    ),
    ProjectBrief(
        "ecbsz_net", "ecb_sz", OUTSOURCING, MS, "huang.wei", "tang.bo",
        ("tang.bo", "han.xue", "jiang.ning"),
        "华东银行苏州分行网点网络运维 / ECB Suzhou branch network support",
        "苏州分行营业部及 12 家支行网点的网络、ATM 专线与 VPN 运维，网点报障 30 分钟响应、4 小时恢复。",
        "zh", -120, -114, 245, (-117, -108), 640_000, 760_000, 0.30, 1.0, 33, "green", 0,
        (), 30, 0.12, ("网点网络", "ATM 专线", "VPN"), ("苏州分行营业部", "园区支行", "吴中支行"), changes=1,
    ),
)  # fmt: skip

GATES = ("to_planning", "to_execution", "to_monitoring", "to_closing", "close")
#: Where each phase is planned to end, as a share of the time from a project's start to its due date
#: (closing ends on the due date): the project's phase plan, which the monthly review sets phases against.
PHASE_PLAN = (
    ("initiation_end", 0.04),
    ("planning_end", 0.15),
    ("execution_end", 0.75),
    ("monitoring_end", 0.92),
)

# --- the work breakdown ---------------------------------------------------

#: Phases of an implementation project: titles, the share of the project's time they span,
#: their activities per module, and the milestone that ends them.
IMPLEMENTATION_PHASES = (
    (("需求调研", "Requirements"), (0.0, 0.16),
     (("{m}需求访谈", "{m}: requirement workshops"), ("{m}业务流程梳理", "{m}: process mapping"),
      ("{m}需求规格说明", "{m}: requirement specification")),
     ("里程碑：需求规格确认", "Milestone: requirements signed off")),
    (("方案设计", "Design"), (0.13, 0.32),
     (("{m}功能设计", "{m}: functional design"), ("{m}接口设计", "{m}: interface design"),
      ("{m}数据模型设计", "{m}: data model")),
     ("里程碑：设计评审通过", "Milestone: design review passed")),
    (("开发与配置", "Build"), (0.28, 0.66),
     (("{m}开发", "{m}: build"), ("{m}系统配置", "{m}: configuration"), ("{m}单元测试", "{m}: unit tests")),
     None),
    (("测试", "Testing"), (0.6, 0.82),
     (("{m}集成测试", "{m}: integration test"), ("{m}UAT 测试", "{m}: user acceptance test"),
      ("{m}缺陷修复", "{m}: defect fixing")),
     ("里程碑：UAT 通过", "Milestone: UAT passed")),
    (("上线部署", "Go-live"), (0.8, 0.9),
     (("{m}生产环境部署", "{m}: production deployment"), ("{m}数据迁移", "{m}: data migration"),
      ("{m}切换演练", "{m}: cut-over rehearsal")),
     ("里程碑：系统上线", "Milestone: go-live")),
    (("培训与验收", "Training & acceptance"), (0.86, 1.0),
     (("{m}用户培训", "{m}: user training"), ("{m}操作手册", "{m}: user guide")),
     ("里程碑：项目验收", "Milestone: final acceptance")),
)  # fmt: skip

#: The first tasks of a project still in initiation.
INITIATION_TASKS = (
    ("编写项目章程", "Project charter"),
    ("干系人分析", "Stakeholder analysis"),
    ("项目启动会", "Kick-off meeting"),
    ("现状调研与差距分析", "Current state and gap analysis"),
    ("工作分解与初步排期", "Work breakdown and first schedule"),
    ("风险识别", "Risk identification"),
    ("等保测评机构沟通", "Talk to the compliance assessor"),
    ("资源计划", "Resource plan"),
)

#: An outsourcing contract's work: the hand-over, the monthly routine, and improvements.
TRANSITION_TASKS = (
    ("现有环境调研", "Survey of the current environment"),
    ("资产清单盘点", "Asset inventory"),
    ("运维文档交接", "Hand-over of operations documents"),
    ("监控系统部署", "Monitoring set-up"),
    ("应急预案编制", "Emergency response plan"),
    ("服务台流程上线", "Service desk process go-live"),
)
#: Every month: the task, the day of the month it starts, and its due day counted from the month's end.
MONTHLY_TASKS = (
    (("{month}月度服务报告", "Monthly service report, {month}"), 20, 4),
    (("{month}月度巡检", "Monthly health check, {month}"), 8, -1),
    (("{month}补丁更新", "Patching, {month}"), 12, -1),
    (("{month}备份恢复演练", "Backup restore test, {month}"), 14, -1),
    (("{month}漏洞扫描", "Vulnerability scan, {month}"), 3, -1),
)
IMPROVEMENT_TASKS = (
    ("告警规则优化", "Tune the alert rules"),
    ("自动化巡检脚本", "Automate the health checks"),
    ("存储扩容评估", "Storage capacity review"),
    ("网络架构优化方案", "Network design improvements"),
    ("账号权限梳理", "Access rights review"),
    ("灾备切换演练", "Disaster recovery drill"),
    ("知识库整理", "Knowledge base clean-up"),
    ("服务目录更新", "Service catalogue update"),
)
OUTSOURCING_PHASES = (
    ("服务交接", "Service transition"),
    ("日常运维", "Operations"),
    ("优化改进", "Improvements"),
)
OUTSOURCING_MILESTONES = (("里程碑：服务交接完成", "Milestone: transition complete"),
                          ("里程碑：季度服务评审", "Milestone: quarterly service review"))  # fmt: skip

# --- tickets ----------------------------------------------------------------

#: category -> support group
SUPPORT_GROUPS = {
    "network": "network",
    "server": "infrastructure",
    "application": "application",
    "database": "database",
    "security": "security",
    "desktop": "service_desk",
    "other": "service_desk",
}

#: Incidents by category: (title, description) in Chinese and in English; {service} and {site} are filled in.
INCIDENTS = {
    "network": (
        (
            ("{site}网络中断", "{site}办公网络中断，终端无法访问内网和互联网。"),
            ("Network down at {site}", "Nobody at {site} can reach the intranet or the internet."),
        ),
        (
            ("VPN 频繁掉线", "出差员工反映 VPN 每隔十几分钟断开一次，需要重新登录。"),
            ("VPN keeps dropping", "Staff travelling say the VPN disconnects every ten to fifteen minutes."),
        ),
        (
            ("{site}无线网络信号差", "{site}会议室无线网络信号弱，视频会议频繁卡顿。"),
            ("Poor Wi-Fi at {site}", "Video calls in the meeting rooms at {site} keep freezing."),
        ),
        (
            ("访问{service}延迟高", "用户访问{service}页面加载需要 10 秒以上，疑似专线拥塞。"),
            ("{service} slow over the WAN", "Pages of {service} take more than ten seconds to load."),
        ),
    ),
    "server": (
        (
            (
                "{service}服务器 CPU 持续满载",
                "监控告警:{service}应用服务器 CPU 使用率持续 100% 超过 15 分钟。",
            ),
            (
                "{service} server CPU at 100%",
                "Monitoring: the {service} application server has run at 100% CPU for 15 minutes.",
            ),
        ),
        (
            ("{service}服务器磁盘空间不足", "日志分区使用率 95%,需要清理或扩容。"),
            ("Disk almost full on the {service} server", "The log partition is 95% full."),
        ),
        (
            ("夜间备份作业失败", "{service}的夜间全量备份作业失败，错误:介质不可用。"),
            ("Nightly backup failed", "The full backup of {service} failed last night: media unavailable."),
        ),
        (
            ("虚拟机无法启动", "{site}一台承载{service}的虚拟机重启后无法启动。"),
            (
                "Virtual machine will not start",
                "A VM running {service} at {site} does not boot after a restart.",
            ),
        ),
    ),
    "application": (
        (
            ("{service}登录报错", "部分用户登录{service}时提示“系统繁忙，请稍后重试”。"),
            (
                "Login errors in {service}",
                "Some users get 'system busy, try again later' when they sign in to {service}.",
            ),
        ),
        (
            ("{service}报表导出超时", "导出月度报表时页面超时，报表无法生成。"),
            (
                "Report export times out in {service}",
                "The monthly report export times out and no file is produced.",
            ),
        ),
        (
            ("批处理作业未按时完成", "{service}日终批处理比平时晚 2 小时完成，影响次日开门。"),
            ("Batch job finished late", "The end-of-day batch of {service} finished two hours late."),
        ),
        (
            ("{service}页面显示异常", "升级后部分页面按钮错位，无法点击“提交”。"),
            (
                "Broken page in {service}",
                "Since the upgrade the Submit button on some pages cannot be clicked.",
            ),
        ),
    ),
    "database": (
        (
            ("数据库连接池耗尽", "{service}日志大量出现获取数据库连接超时。"),
            ("Database connection pool exhausted", "The {service} log is full of connection timeouts."),
        ),
        (
            ("慢查询导致{service}响应缓慢", "高峰期{service}查询响应时间超过 8 秒。"),
            ("Slow queries in {service}", "At peak times queries in {service} take more than eight seconds."),
        ),
        (
            ("表空间使用率超过 90%", "{service}数据库表空间使用率 92%,需扩容。"),
            ("Tablespace over 90%", "A tablespace of the {service} database is 92% full."),
        ),
        (
            ("主从复制延迟", "{service}备库复制延迟超过 30 分钟。"),
            ("Replication lag", "The {service} standby is more than 30 minutes behind."),
        ),
    ),
    "security": (
        (
            ("检测到异常登录尝试", "安全设备发现来自境外 IP 的大量{service}登录尝试。"),
            ("Suspicious login attempts", "Many failed sign-ins to {service} from unknown addresses."),
        ),
        (
            ("终端发现病毒告警", "{site}一台终端防病毒软件报告木马程序。"),
            ("Malware alert on a PC", "Antivirus reports a trojan on a PC at {site}."),
        ),
        (
            ("SSL 证书即将过期", "{service}的 SSL 证书将在 7 天后过期。"),
            ("TLS certificate expiring", "The certificate of {service} expires in seven days."),
        ),
    ),
    "desktop": (
        (
            ("{site}打印机无法打印", "{site}共享打印机脱机，打印任务全部卡在队列中。"),
            (
                "Printer offline at {site}",
                "The shared printer at {site} is offline; jobs are stuck in the queue.",
            ),
        ),
        (
            ("邮件无法收发", "用户 Outlook 无法收发邮件，提示需要输入密码。"),
            (
                "Cannot send or receive e-mail",
                "Outlook keeps asking for a password and mail does not arrive.",
            ),
        ),
        (
            ("笔记本电脑蓝屏", "员工笔记本开机后反复蓝屏。"),
            ("Laptop blue screen", "A laptop shows a blue screen on every start."),
        ),
    ),
    "other": (
        (
            ("账号权限申请", "新入职员工需要开通{service}账号及相应权限。"),
            ("Access request", "A new starter needs an account and rights in {service}."),
        ),
        (
            ("{service}使用咨询", "用户咨询{service}中如何批量导入数据。"),
            ("Question about {service}", "A user asks how to import data in bulk into {service}."),
        ),
    ),
}

#: How often each category comes up (in the order of `INCIDENTS`): a contract in operation hears
#: of everything, a system gone live mostly of the application and its database.
INCIDENT_MIX = {OUTSOURCING: (16, 18, 22, 10, 7, 18, 9), IMPLEMENTATION: (5, 15, 50, 20, 5, 0, 5)}

RESOLUTIONS = {
    "network": (("更换故障交换机端口模块，链路恢复。", "Replaced the faulty switch port module; the link is back."),
                ("调整 VPN 会话超时参数并升级客户端。", "Raised the VPN session timeout and updated the client."),
                ("重新规划无线信道并增加 AP。", "Re-planned the Wi-Fi channels and added an access point.")),
    "server": (("清理历史日志并配置日志轮转。", "Cleared old logs and set up log rotation."),
               ("扩容虚拟机 CPU 与内存，优化应用线程数。", "Added CPU and memory to the VM and tuned the thread pool."),
               ("更换备份介质并重新执行备份，成功。", "Replaced the backup media and re-ran the backup successfully.")),
    "application": (("回滚有问题的配置并重启应用服务。", "Rolled back the faulty configuration and restarted the service."),
                    ("发布补丁修复页面脚本错误。", "Released a patch for the page script error."),
                    ("优化批处理 SQL，并调整作业调度顺序。", "Tuned the batch SQL and re-ordered the job schedule.")),
    "database": (("增加连接池上限并修复连接泄漏。", "Raised the pool limit and fixed the connection leak."),
                 ("为慢查询补充索引，响应时间恢复到 1 秒内。", "Added an index for the slow query; responses are under a second again."),
                 ("表空间扩容 200 GB。", "Extended the tablespace by 200 GB.")),
    "security": (("封禁攻击来源 IP 并开启登录验证码。", "Blocked the source addresses and turned on a login captcha."),
                 ("隔离终端并完成查杀，已重装系统。", "Isolated the PC, removed the malware and reinstalled it."),
                 ("已更新证书并验证。", "Renewed the certificate and checked it.")),
    "desktop": (("重启打印服务并更新驱动。", "Restarted the print spooler and updated the driver."),
                ("重建邮件配置文件。", "Rebuilt the mail profile."),
                ("更新显卡驱动，问题解决。", "Updated the graphics driver; fixed.")),
    "other": (("已按申请开通账号和权限。", "Account and rights granted as requested."),
              ("已电话指导用户完成操作，并发送操作说明。", "Walked the user through it by phone and sent the steps.")),
}  # fmt: skip

ROOT_CAUSES = (
    ("变更后配置参数未同步到备节点。", "A configuration change was not copied to the standby node."),
    ("硬件老化导致端口故障。", "Ageing hardware: the port failed."),
    (
        "应用存在连接泄漏，高峰期耗尽资源。",
        "A connection leak in the application used up resources at peak time.",
    ),
    ("容量规划不足，业务量增长超出预期。", "Capacity planning fell behind the growth in business volume."),
)

#: Change requests: title, reason, scope impact ({module} is filled in).
CHANGES = (
    (("新增{module}统计报表", "业务部门提出新的统计口径，需要新增报表。", "新增 3 张报表及对应查询接口。"),
     ("New {module} reports", "The business wants figures the current reports do not give.", "Three new reports and their queries.")),
    (("{module}上线时间调整", "客户内部审批流程延迟，无法按原计划上线。", "范围不变，上线时间顺延。"),
     ("Move the {module} go-live", "The client's internal sign-off is late.", "No change of scope; the go-live moves.")),
    (("增加与第三方系统的{module}接口", "客户新采购的第三方系统需要对接。", "新增 1 个接口及联调测试。"),
     ("Interface from {module} to a new third-party system", "The client bought a new system that must be connected.", "One more interface, with its tests.")),
    (("{module}功能范围调整", "试运行中发现流程与实际业务不符。", "调整 2 个流程，删除 1 个不再使用的功能。"),
     ("Change the scope of {module}", "The trial run showed two processes do not fit how the plant works.", "Two processes change, one feature goes.")),
    (("数据迁移范围扩大", "客户要求迁移近 5 年历史数据(原计划 2 年)。", "迁移数据量增加约 2.5 倍。"),
     ("Migrate more history", "The client wants five years of history migrated instead of two.", "About 2.5 times the data to migrate.")),
    (("生产服务器扩容", "业务量增长，现有服务器资源不足。", "新增 2 台应用服务器。"),
     ("More production servers", "Volumes grew; the servers are short of capacity.", "Two more application servers.")),
)  # fmt: skip

APPROVAL_NOTES = (
    ("同意。", "Agreed."),
    ("同意，请注意控制成本。", "Agreed; keep an eye on the cost."),
    ("已核对影响分析，同意实施。", "Impact analysis checked; go ahead."),
)
REJECTION_NOTES = (
    ("成本影响过大，请重新评估方案。", "The cost impact is too high; please look for another way."),
    ("需求不明确，请补充业务说明后再提交。", "The need is unclear; add the business case and submit again."),
)
GATE_NOTES = (
    ("阶段评审通过。", "Gate review passed."),
    ("材料齐全，同意进入下一阶段。", "Documents complete; go ahead."),
)

# --- record types the starter pack may add ----------------------------------------

DELIVERABLES = {
    IMPLEMENTATION: (
        ("项目章程", "Project charter"),
        ("需求规格说明书", "Requirement specification"),
        ("系统设计说明书", "System design"),
        ("测试报告", "Test report"),
        ("上线报告", "Go-live report"),
        ("用户操作手册", "User guide"),
        ("项目验收报告", "Acceptance report"),
    ),
    OUTSOURCING: (
        ("服务交接报告", "Transition report"),
        ("运维手册", "Operations manual"),
        ("应急预案", "Emergency response plan"),
        ("季度服务评审报告", "Quarterly service review"),
    ),
}
RISKS = (
    (("关键用户投入不足", "Key users have too little time"), ("与客户高层沟通，锁定关键用户时间。", "Agree the key users' time with the client's management.")),
    (("需求变更频繁", "Requirements keep changing"), ("严格执行变更流程，每周评审变更。", "Every change goes through a change request, reviewed weekly.")),
    (("第三方接口延期", "A third-party interface is late"), ("提前准备挡板程序，并行测试。", "Build a stub and test in parallel.")),
    (("核心人员流失", "Losing key people"), ("关键岗位 AB 角，文档及时更新。", "A backup for every key role; keep the documents current.")),
    (("硬件到货延迟", "Hardware arrives late"), ("提前下单，准备临时云资源。", "Order early; have temporary cloud capacity ready.")),
    (("数据质量不达标", "Poor data quality"), ("迁移前开展数据清洗，客户确认。", "Clean the data before migrating; the client signs it off.")),
)  # fmt: skip
#: Service requests: title, the request's category, the support group that fulfils it.
SERVICE_REQUESTS = (
    (("新员工账号开通", "Accounts for a new starter"), "access", "service_desk"),
    (("VPN 权限申请", "VPN access"), "access", "network"),
    (("共享文件夹权限变更", "Rights on a shared folder"), "access", "infrastructure"),
    (("软件安装申请", "Install software"), "software", "service_desk"),
    (("数据库只读账号申请", "Read-only database account"), "access", "database"),
    (("防火墙端口开通", "Open a firewall port"), "other", "security"),
    (("更换笔记本电池", "Replace a laptop battery"), "hardware", "service_desk"),
    (("会议室设备调试", "Set up the meeting room equipment"), "hardware", "service_desk"),
    (("导出上月系统访问日志", "Last month's access logs"), "information", "application"),
)
FULFILMENTS = (("已按申请完成并通知申请人。", "Done as asked; the requester was told."),)
FEEDBACK = {
    5: (("服务响应及时，问题处理专业，非常满意。", "Quick and professional. Very happy with the service."),),
    4: (("整体满意，希望月报再详细一些。", "Good overall; the monthly report could say more."),),
    3: (("问题能解决，但响应速度有待提高。", "Problems get solved, but answers could come faster."),),
    2: (
        (
            "项目进度多次延误，希望加强沟通。",
            "The schedule slipped several times; we need to hear about it earlier.",
        ),
    ),
    1: (("延期严重，对项目管理很不满意。", "Badly late; we are unhappy with how the project is run."),),
}
FOLLOW_UPS = {
    "good": ("已电话回访，感谢客户认可。", "Called the client to thank them."),
    "poor": (
        "已安排项目经理与客户沟通改进计划。",
        "The project manager is agreeing an improvement plan with the client.",
    ),
}

#: What people write as they move records along.
NOTES = {
    "task_cancelled": ("范围调整，取消。", "Out of scope now; cancelled."),
    "duplicate": ("重复工单，已合并处理。", "Duplicate of an earlier ticket."),
    "ask_client": ("请客户提供报错截图和发生时间。", "Asked the client for a screenshot and the time it happened."),
    "rollback_plan": ("回退到变更前版本并恢复数据库备份。", "Roll back to the previous release and restore the database backup."),
    "change_withdrawn": ("客户决定暂不实施。", "The client decided not to go ahead for now."),
    "change_dropped": ("不再实施。", "Dropped."),
    "implementation_plan": ("分两个维护窗口实施，周末完成切换。", "Two maintenance windows; cut-over at the weekend."),
}  # fmt: skip
#: A ticket's conversation in comments: the engineer's first public reply, the client's answer, a note for
#: colleagues only (internal: never shown to the client), and the request to confirm the fix.
CONVERSATION = {
    "taken": (
        ("您好，工单已收到，正在排查，一小时内给您进展。", "Hello, we have your ticket and are looking into it; you will hear from us within the hour."),
        ("已接手处理，正在核实情况，有进展会在这里更新。", "Picked up. We are checking what happened and will post progress here."),
        ("正在处理中，如有新的情况请直接回复本工单。", "We are on it. If anything new comes up, reply here."),
    ),
    "client": (
        ("补充一下：今天上午开始出现，涉及我们部门的几位同事。", "To add: it started this morning and concerns several colleagues in our department."),
        ("好的，相关截图和操作步骤稍后发给您。", "All right, the screenshots and the steps we took follow shortly."),
        ("谢谢，请尽快处理，下午有业务高峰。", "Thank you. Please hurry: our busy hours start this afternoon."),
    ),
    "internal": (
        ("内部：已向厂商报障，对方工单号 CT-{n}。", "Internal: reported to the vendor, their ticket CT-{n}."),
        ("内部：可能与上周的变更有关，已通知变更负责人。", "Internal: may be linked to last week's change; its owner is told."),
        ("内部：我们在客户系统上的账号权限不足，已申请临时权限。", "Internal: our account on the client's system lacks rights; temporary access requested."),
    ),
    "confirm": (
        ("已处理完成，请确认是否恢复正常。", "Done. Please confirm everything works again."),
        ("处理完成，如仍有问题请在此回复。", "Done. If anything is still wrong, reply here."),
    ),
}  # fmt: skip
#: Why work stops for a while.
BLOCKERS = (
    ("等待客户提供测试数据。", "Waiting for test data from the client."),
    ("等待客户确认需求。", "Waiting for the client to confirm the requirement."),
    ("依赖的接口尚未就绪。", "The interface it needs is not ready."),
    ("测试环境不可用。", "The test environment is down."),
)

#: What an hour of each role's work costs the company (CNY), before the demo's ±10% per person; the
#: engineers got a raise of `RAISE` from `RAISE_DAYS` days ago (a second cost rate from that day).
HOURLY_COST = {
    "admin": 450, "department_admin": 600, "project_manager": 520, "account_manager": 420,
    "finance": 400, "engineer": 380, "support_agent": 260,
}  # fmt: skip
RAISE, RAISE_DAYS = 0.06, 90
#: What a project's expenses are for, by kind (zh, en).
EXPENSES = {
    "travel": (("客户现场差旅", "Travel to the client's site"), ("项目组出差住宿", "The team's hotel on site")),
    "hardware": (("测试服务器", "Test servers"), ("网络设备备件", "Spare network equipment")),
    "software": (("开发工具许可证", "Development tool licences"), ("监控软件订阅", "Monitoring software subscription")),
    "subcontract": (("分包工程师服务费", "Subcontracted engineers"), ("外包测试服务", "Subcontracted testing")),
}  # fmt: skip
