"""JSON Schemas as people write them, for record types: modelled on react-jsonschema-form's
playground samples (simple, nested, arrays, numbers, widgets, references, if/then/else,
dependencies, additional properties, any value), adapted only where itpm's format demands
(a title in both languages on each field), each with a record that uses every part of it.
"""

from __future__ import annotations

from typing import Any


def field(title: str, zh: str, **schema: Any) -> dict[str, Any]:
    return {"title": title, "x-title-zh": zh, **schema}


def record_type(name: str, title: str, zh: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "record_type", "name": name, "title": {"en": title, "zh": zh}, "schema": schema}


SAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}


def sample(name: str, title: str, zh: str, schema: dict[str, Any], data: dict[str, Any]) -> None:
    SAMPLES[name] = (record_type(name, title, zh, {"type": "object", **schema}), data)


sample(
    "s_simple",
    "Simple",
    "简单",
    {
        "required": ["first_name", "last_name"],
        "properties": {
            "first_name": field("First name", "名", type="string", default="Chuck"),
            "last_name": field("Last name", "姓", type="string"),
            "age": field("Age", "年龄", type="integer", minimum=0),
            "bio": field("Bio", "简介", type="string", maxLength=2000),
            "telephone": field(
                "Telephone", "电话", type="string", pattern="^[0-9+ -]{7,20}$",
                **{"x-message": {"en": "digits, spaces, + and -", "zh": "数字、空格、+ 和 -"}},
            ),
        },
    },
    {"first_name": "Chuck", "last_name": "Norris", "age": 75, "bio": "Roundhouse kicking asses", "telephone": "+86 21 5555 0100"},
)  # fmt: skip

sample(
    "s_nested",
    "Nested task list",
    "嵌套任务清单",
    {
        "required": ["title"],
        "properties": {
            "title": field("Task list title", "清单标题", type="string"),
            "tasks": field(
                "Tasks", "任务", type="array",
                items={
                    "type": "object",
                    "required": ["title"],
                    "properties": {
                        "title": {"type": "string", "title": "Title", "x-title-zh": "标题"},
                        "details": {"type": "string", "title": "Details", "x-title-zh": "详情"},
                        "done": {"type": "boolean", "title": "Done?", "x-title-zh": "完成?"},
                    },
                },
            ),
        },
    },
    {
        "title": "My current tasks",
        "tasks": [
            {"title": "My first task", "details": "Some details", "done": True},
            {"title": "My second task", "details": "More details", "done": False},
        ],
    },
)  # fmt: skip

sample(
    "s_arrays",
    "Arrays",
    "数组",
    {
        "properties": {
            "tags": field("Tags", "标签", type="array", items={"type": "string"}),
            "scores": field("Scores", "分数", type="array", items={"type": "number"}, maxItems=5),
            "choices": field(
                "Multiple choices", "多选", type="array", uniqueItems=True,
                items={"type": "string", "enum": ["foo", "bar", "fuzz", "qux"]},
            ),
            "nested_list": field(
                "Nested list", "嵌套列表", type="array",
                items={
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "title": "Name"},
                        "sub_items": {"type": "array", "title": "Sub items", "items": {"type": "integer"}},
                    },
                },
            ),
        },
    },
    {
        "tags": ["urgent", "network"],
        "scores": [1.5, 2, 3.25],
        "choices": ["foo", "qux"],
        "nested_list": [{"name": "a", "sub_items": [1, 2]}, {"name": "b", "sub_items": [3]}],
    },
)  # fmt: skip

sample(
    "s_numbers",
    "Numbers and choices",
    "数字与选项",
    {
        "properties": {
            "amount": field("Amount", "金额", type="number", multipleOf=0.01),
            "rating": field(
                "Rating", "评分", type="integer",
                oneOf=[
                    {"const": 1, "title": "Poor", "x-title-zh": "差"},
                    {"const": 2, "title": "Fair", "x-title-zh": "一般"},
                    {"const": 3, "title": "Good", "x-title-zh": "好"},
                ],
            ),
            "colour": field(
                "Colour", "颜色", type="string",
                anyOf=[
                    {"const": "#ff0000", "title": "Red", "x-title-zh": "红"},
                    {"const": "#00ff00", "title": "Green", "x-title-zh": "绿"},
                    {"const": "#0000ff", "title": "Blue", "x-title-zh": "蓝"},
                ],
            ),
            "size": field("Size", "尺寸", type="string", enum=["S", "M", "L", "XL", "XXL"]),
            "approved": field("Approved", "已批准", type="boolean"),
        },
    },
    {"amount": 1234.56, "rating": 3, "colour": "#00ff00", "size": "XL", "approved": True},
)  # fmt: skip

sample(
    "s_formats",
    "Formats",
    "格式",
    {
        "properties": {
            "email": field("E-mail", "邮箱", type="string", format="email"),
            "homepage": field("Homepage", "主页", type="string", format="uri"),
            "born": field("Born", "出生日期", type="string", format="date"),
            "seen_at": field("Seen at", "见到时间", type="string", format="date-time"),
            "alarm": field("Alarm", "闹钟", type="string", format="time"),
            "token": field("Token", "令牌", type="string", format="uuid"),
            "address": field("IP address", "IP 地址", type="string", format="ipv4"),
        },
    },
    {
        "email": "chuck@norris.net",
        "homepage": "https://chucknorris.com/",
        "born": "1940-03-10",
        "seen_at": "2026-03-14T01:30:00Z",
        "alarm": "09:30:00+08:00",
        "token": "123e4567-e89b-12d3-a456-426614174000",
        "address": "192.168.1.10",
    },
)  # fmt: skip

ADDRESS = {
    "type": "object",
    "properties": {
        "street_address": {"type": "string", "title": "Street", "x-title-zh": "街道"},
        "city": {"type": "string", "title": "City", "x-title-zh": "城市"},
        "state": {"type": "string", "title": "State", "x-title-zh": "省份"},
    },
    "required": ["street_address", "city"],
}

sample(
    "s_references",
    "References",
    "引用",
    {
        "$defs": {"address": ADDRESS},
        "properties": {
            "billing_address": field("Billing address", "账单地址", **{"$ref": "#/$defs/address"}),
            "shipping_address": field("Shipping address", "收货地址", **{"$ref": "#/$defs/address"}),
            "tree": field(
                "Deeply nested", "多层嵌套", type="object",
                properties={
                    "level_one": {
                        "type": "object", "title": "Level one",
                        "properties": {
                            "level_two": {
                                "type": "object", "title": "Level two",
                                "properties": {
                                    "leaves": {
                                        "type": "array", "title": "Leaves",
                                        "items": {"type": "object", "properties": {"label": {"type": "string"}}},
                                    }
                                },
                            }
                        },
                    }
                },
            ),
        },
    },
    {
        "billing_address": {"street_address": "21, Jump Street", "city": "Babel", "state": "Neverland"},
        "shipping_address": {"street_address": "221B, Baker Street", "city": "London"},
        "tree": {"level_one": {"level_two": {"leaves": [{"label": "x"}, {"label": "y"}]}}},
    },
)  # fmt: skip

sample(
    "s_conditions",
    "If then else",
    "条件",
    {
        "properties": {
            "animal": field(
                "Animal", "动物", type="string",
                oneOf=[
                    {"const": "cat", "title": "Cat", "x-title-zh": "猫"},
                    {"const": "fish", "title": "Fish", "x-title-zh": "鱼"},
                ],
            ),
            "food": field("Food", "食物", type="string", enum=["meat", "grass", "fish"]),
            "water": field("Water", "水", type="string", enum=["lake", "sea"]),
            "credit_card": field("Credit card", "信用卡", type="string"),
            "billing_city": field("Billing city", "账单城市", type="string"),
        },
        "required": ["animal"],
        "allOf": [
            {
                "if": {"properties": {"animal": {"const": "cat"}}, "required": ["animal"]},
                "then": {"required": ["food"]},
                "else": {"required": ["water"]},
            }
        ],
        "dependentRequired": {"credit_card": ["billing_city"]},
    },
    {"animal": "fish", "water": "sea", "credit_card": "4111", "billing_city": "Shanghai"},
)  # fmt: skip

sample(
    "s_named",
    "Additional properties",
    "附加属性",
    {
        "properties": {
            "labels": field(
                "Labels", "标记", type="object", additionalProperties={"type": "string"},
            ),
            "limits": field(
                "Limits", "限额", type="object",
                properties={"default": {"type": "integer", "title": "Default", "x-title-zh": "默认"}},
                patternProperties={"^[a-z]+$": {"type": "integer", "minimum": 0}},
                additionalProperties=False,
            ),
            "anything": field("Anything", "任意值"),
            "maybe": field("Maybe text", "可空文本", type=["string", "null"]),
        },
    },
    {
        "labels": {"team": "network", "site": "Pudong"},
        "limits": {"default": 10, "cpu": 4, "memory": 16},
        "anything": {"free": ["form", 1, True, None], "nested": {"a": 1.5}},
        "maybe": "text",
    },
)  # fmt: skip
