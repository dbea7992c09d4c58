"""Records: the data of every published record type, its storage, validation and service."""
