"""Moving customers in and out: legacy-data migration with reports, and exports.

The import pipeline::

    open_source(path)            CSV (UTF-8, BOM, GB18030/GBK; delimiter sniffed) or JSON Lines,
                                 streamed with 1-based data row numbers
    load_mapping(path)           columns -> field paths, header aliases, value maps, formats
    plan_import(rows, mapping, registry, actor=..., import_id=..., dry_run=...)
                                 normalise, validate, de-duplicate (in the file and against the
                                 store), decide per row, and write in chunks unless dry_run
    ImportReport                 counts per outcome, every issue, a reproducible sample;
                                 ErrorFile holds the rows to fix and feed back

and the other way, :func:`export_customers` writes JSON Lines or CSV through the registry's
audited export (masked unless the actor may unmask) that imports back to equal records.
Every CSV custrec writes escapes cells a spreadsheet would run as formulas (:class:`CsvWriter`,
:func:`escape_cell`), and the CSV reader undoes it (:func:`unescape_cell`).

>>> import io, warnings
>>> from custrec import Actor, MemoryStore, PlaintextStorageWarning, Registry
>>> from custrec.interchange import ImportMapping, open_source, plan_import
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore", PlaintextStorageWarning)
...     registry = Registry(MemoryStore())
>>> columns = {"姓名": "name", "手机": "contacts[0].phones[0]"}
>>> mapping = ImportMapping.from_dict({"defaults": {"kind": "individual"}, "columns": columns})
>>> data = "姓名,手机\\n张三,13800138000\\n李四,12345\\n张三,138-0013-8000\\n".encode("gb18030")
>>> with open_source(io.BytesIO(data), name="legacy.csv") as rows:
...     report = plan_import(rows, mapping, registry, actor=Actor(id="ops", roles={"admin"}),
...                          import_id="demo", dry_run=False)
>>> {k.value: n for k, n in report.counts.items() if n}
{'created': 1, 'duplicate_in_file': 1, 'rejected': 1}
>>> [str(i) for i in report.issues]  # doctest: +NORMALIZE_WHITESPACE
['row 2, 手机 (contacts[0].phones[0]): phone.invalid (not a valid phone) [1****]',
 '[warning] row 3: duplicate.in_file (same phone as row 1)']
"""

import typing as _typing

from custrec import _lazy

if _typing.TYPE_CHECKING:
    # What type checkers and IDEs see; at run time module __getattr__ below imports these
    # (an import's worker processes, which load only what preparing rows needs).
    from custrec._progress import Progress
    from custrec.interchange.convert import ConversionError
    from custrec.interchange.csvsafe import CsvWriter, escape_cell, unescape_cell
    from custrec.interchange.errorfile import ERROR_COLUMNS, ErrorFile
    from custrec.interchange.export import (
        CSV_COLUMNS,
        EXPORT_FORMATS,
        ExportResult,
        export_customers,
    )
    from custrec.interchange.mapping import (
        BoundMapping,
        ColumnRule,
        FieldPath,
        ImportMapping,
        MappedRow,
        MappingError,
        load_mapping,
        parse_path,
    )
    from custrec.interchange.plan import (
        ImportPolicy,
        derive_id,
        merge_changes,
        plan_import,
        row_identity,
    )
    from custrec.interchange.readers import (
        CsvSource,
        JsonlSource,
        ReadError,
        Source,
        SourceRow,
        open_source,
    )
    from custrec.interchange.report import (
        ColumnUsage,
        ImportReport,
        Outcome,
        RowIssue,
        SourceInfo,
        render_table,
    )

__all__ = [
    "CSV_COLUMNS",
    "ERROR_COLUMNS",
    "EXPORT_FORMATS",
    "BoundMapping",
    "ColumnRule",
    "ColumnUsage",
    "ConversionError",
    "CsvSource",
    "CsvWriter",
    "ErrorFile",
    "ExportResult",
    "FieldPath",
    "ImportMapping",
    "ImportPolicy",
    "ImportReport",
    "JsonlSource",
    "MappedRow",
    "MappingError",
    "Outcome",
    "Progress",
    "ReadError",
    "RowIssue",
    "Source",
    "SourceInfo",
    "SourceRow",
    "derive_id",
    "escape_cell",
    "export_customers",
    "load_mapping",
    "merge_changes",
    "open_source",
    "parse_path",
    "plan_import",
    "render_table",
    "row_identity",
    "unescape_cell",
]

# Each lazily imported name, and the module that defines it.
_LAZY: dict[str, str] = {
    "BoundMapping": "custrec.interchange.mapping",
    "CSV_COLUMNS": "custrec.interchange.export",
    "ColumnRule": "custrec.interchange.mapping",
    "ColumnUsage": "custrec.interchange.report",
    "ConversionError": "custrec.interchange.convert",
    "CsvSource": "custrec.interchange.readers",
    "CsvWriter": "custrec.interchange.csvsafe",
    "ERROR_COLUMNS": "custrec.interchange.errorfile",
    "EXPORT_FORMATS": "custrec.interchange.export",
    "ErrorFile": "custrec.interchange.errorfile",
    "ExportResult": "custrec.interchange.export",
    "FieldPath": "custrec.interchange.mapping",
    "ImportMapping": "custrec.interchange.mapping",
    "ImportPolicy": "custrec.interchange.plan",
    "ImportReport": "custrec.interchange.report",
    "JsonlSource": "custrec.interchange.readers",
    "MappedRow": "custrec.interchange.mapping",
    "MappingError": "custrec.interchange.mapping",
    "Outcome": "custrec.interchange.report",
    "Progress": "custrec._progress",
    "ReadError": "custrec.interchange.readers",
    "RowIssue": "custrec.interchange.report",
    "Source": "custrec.interchange.readers",
    "SourceInfo": "custrec.interchange.report",
    "SourceRow": "custrec.interchange.readers",
    "derive_id": "custrec.interchange.plan",
    "escape_cell": "custrec.interchange.csvsafe",
    "export_customers": "custrec.interchange.export",
    "load_mapping": "custrec.interchange.mapping",
    "merge_changes": "custrec.interchange.plan",
    "open_source": "custrec.interchange.readers",
    "parse_path": "custrec.interchange.mapping",
    "plan_import": "custrec.interchange.plan",
    "render_table": "custrec.interchange.report",
    "row_identity": "custrec.interchange.plan",
    "unescape_cell": "custrec.interchange.csvsafe",
}

if not _typing.TYPE_CHECKING:
    # Hidden from type checkers: a module __getattr__ would make them accept any name at all.
    __getattr__ = _lazy.loader(__name__, _LAZY)

__dir__ = _lazy.lister(__name__, _LAZY)
