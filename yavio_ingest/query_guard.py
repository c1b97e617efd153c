"""Which SQL the query endpoint runs (`query.py`): one SELECT that reads only `events` and
`tool_registry`, checked with ClickHouse's own parser, never with patterns over the text.

1. ClickHouse formats the SQL, passed as a bound parameter (`formatQuerySingleLine`): it must
   be one statement. This comes first because chdb runs every statement of a multi-statement
   text it is sent, `EXPLAIN AST SELECT 1; DROP TABLE events` included (measured): the caller's
   text never reaches ClickHouse as SQL before it is known to be one statement.
2. `EXPLAIN AST` of the formatted statement is read as a tree and walked: a SELECT; tables
   only `events`, `tool_registry` or the query's own CTEs (a bare name of another table of the
   database, such as `session_stats`, would reach every tenant's rows); no table function, no
   database-qualified or `system` name, no SETTINGS, INTO OUTFILE or FORMAT; and no function
   that reads outside the query's tables (files, dictionaries, Join tables, settings).

What it returns is the formatted statement, which `query.py` runs under CTEs that hold only the
project's rows. The walk only refuses; it never needs to find every way of reading a table,
because those CTEs shadow `events` and `tool_registry` wherever the statement names them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from yavio_ingest.responses import Reject
from yavio_ingest.store.clickhouse import ClickHouseStore

__all__ = ["TABLES", "CheckedQuery", "check_query", "clickhouse_code", "clickhouse_message"]

TABLES = ("events", "tool_registry")

# `x IN name`: the name on the right is a table (or a CTE), like one after FROM.
_IN_FUNCTIONS = frozenset({"in", "notin", "globalin", "globalnotin", "nullin", "notnullin",
                           "globalnullin", "globalnotnullin"})
# Functions that read what is not in the query's tables: files beside the server (chdb reads
# /etc/passwd with `file`, readonly or not: measured), dictionaries and Join tables of any
# tenant, other tables' columns, server settings and request headers, the host's disks, model
# files; `sleep` only holds the store, and `__` names are ClickHouse's internals.
_OUTSIDE_FUNCTIONS = frozenset({
    "file", "joinget", "joingetornull", "hascolumnintable", "getsetting", "getsettingordefault",
    "getserversetting", "getmergetreesetting", "getmacro", "getclienthttpheader",
    "showcertificate", "filesystemavailable", "filesystemcapacity", "filesystemunreserved",
    "generateserialid", "catboostevaluate", "sleep", "sleepeachrow"})
_OUTSIDE_PREFIXES = ("dict", "__")
_SYSTEM_DATABASES = frozenset({"system", "information_schema"})
# The FORMAT that clickhouse-connect appends to every query it sends, EXPLAIN included.
_CLIENT_FORMAT = "Native"

_PREPARE = ("SELECT formatQuerySingleLine({sql:String}), currentDatabase(), "
            "(SELECT groupArray(name) FROM system.tables WHERE database = currentDatabase())")
_CHILDREN = re.compile(r" \(children (\d+)\)$")
_CLICKHOUSE_ERROR = re.compile(r"^Code: (\d+)\. (?:DB::Exception: )?", re.DOTALL)
# What ClickHouse appends to a message that is no use to the caller: the statement it ran (with
# the tenant's CTEs), the parser's list of expected tokens, its version.
_MESSAGE_TAILS = (re.compile(r"[.:]? ?In scope .*", re.DOTALL),
                  re.compile(r"\.? ?Expected one of: .*", re.DOTALL),
                  re.compile(r" ?\(version .*\)\.?$"),
                  re.compile(r" ?\([A-Z_]+\)\.?$"))
MESSAGE_CHARS = 300


@dataclass(frozen=True)
class CheckedQuery:
    """A statement that passed: ClickHouse's formatting of the caller's SQL, and the database
    whose `events` and `tool_registry` the project's CTEs read."""

    sql: str
    database: str


def check_query(store: ClickHouseStore, sql: str) -> CheckedQuery:
    """The caller's SQL as one checked SELECT (blocking: two small ClickHouse calls); 400
    `YAVIO-3010` saying why for anything else."""
    try:
        formatted, database, tables = store.query(_PREPARE, {"sql": sql})[0]
        rows = [row[0] for row in store.query(f"EXPLAIN AST {formatted}")]
    except Exception as error:
        message = clickhouse_message(error)
        if message is None:
            raise
        raise Reject("YAVIO-3010", f"The query does not parse: {message}") from None
    _Walk(frozenset(tables) - set(TABLES)).check(_tree(rows))
    return CheckedQuery(formatted, database)


def clickhouse_message(error: Exception) -> str | None:
    """ClickHouse's own message for a query it refused, shortened to what the caller needs; None
    for an error that is not ClickHouse answering about the query (a connection lost, a bug)."""
    message = str(error)
    found = _CLICKHOUSE_ERROR.match(message)
    if found is None:
        return None
    while found:  # chdb may wrap the message in its own "Code: N. DB::Exception:" again
        message = message[found.end():]
        found = _CLICKHOUSE_ERROR.match(message)
    for tail in _MESSAGE_TAILS:
        message = tail.sub("", message)
    message = " ".join(message.split()).rstrip(". ")
    return (message[:MESSAGE_CHARS - 1] + "…" if len(message) > MESSAGE_CHARS else message) + "."


def clickhouse_code(error: Exception) -> int | None:
    """The ClickHouse error code of a refused query (159 a timeout, ...), if it is one."""
    found = _CLICKHOUSE_ERROR.match(str(error))
    return int(found[1]) if found else None


@dataclass
class _Node:
    kind: str
    detail: str
    declared: int
    children: list[_Node] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The name a node prints after its kind (`TableIdentifier events (alias e)`)."""
        return self.detail.split(" (alias ", 1)[0]


def _tree(rows: list[str]) -> _Node:
    """EXPLAIN AST's lines as a tree: one space of indent per level, each line with the number
    of its children. ClickHouse prints an alias or identifier as written, line breaks included,
    so a crafted name can print extra lines; they can only fit the counts as children of the
    name's own leaf node, where they change nothing the walk relies on. Lines that fit nowhere
    make the query unreadable, and it is refused."""
    root: _Node | None = None
    path: list[_Node] = []  # the latest node at each depth
    for row in rows:
        text = row.lstrip(" ")
        depth = len(row) - len(text)
        declared = _CHILDREN.search(text)
        if declared:
            text = text[:declared.start()]
        kind, _, detail = text.partition(" ")
        node = _Node(kind, detail, int(declared[1]) if declared else 0)
        if depth == 0 and root is None:
            root = node
        elif 0 < depth <= len(path):
            path[depth - 1].children.append(node)
        else:
            raise _unreadable()
        del path[depth:]
        path.append(node)
    if root is None:
        raise _unreadable()
    pending = [root]
    while pending:
        node = pending.pop()
        if len(node.children) != node.declared:
            raise _unreadable()
        pending.extend(node.children)
    return root


def _unreadable() -> Reject:
    return Reject("YAVIO-3010", "The query could not be checked; remove line breaks from its "
                                "names and aliases.")


@dataclass(frozen=True)
class _Walk:
    """The checks of every node; `other_tables` are the database's tables that a bare name
    would reach, all but `events` and `tool_registry`."""

    other_tables: frozenset[str]

    def check(self, root: _Node) -> None:
        if root.kind != "SelectWithUnionQuery":
            raise Reject("YAVIO-3010", "Only a SELECT query can run here.")
        extra = root.children[1:]
        if any(node.kind == "Literal" for node in extra):
            raise Reject("YAVIO-3010", "INTO OUTFILE is not allowed: the rows come back in "
                                       "the answer.")
        if any(node.kind != "Identifier" or node.name != _CLIENT_FORMAT for node in extra):
            raise Reject("YAVIO-3010", "FORMAT is not allowed: the answer is always JSON.")
        pending = [root.children[0]] if root.children else []
        while pending:
            node = pending.pop()
            self._check_node(node)
            pending.extend(node.children)

    def _check_node(self, node: _Node) -> None:
        if node.kind == "Set":
            raise Reject("YAVIO-3010", "SETTINGS is not allowed: the limits of this endpoint "
                                       "apply.")
        if node.kind == "TableExpression" and node.children and \
                node.children[0].kind == "Function":
            raise Reject("YAVIO-3010", f"Table functions such as "
                                       f"{node.children[0].name.split(' ')[0]}() are not "
                                       f"allowed; read {' or '.join(TABLES)}.")
        if node.kind == "TableIdentifier":
            self._check_table(node.name)
        elif node.kind == "Identifier":
            if node.name.split(".", 1)[0].lower() in _SYSTEM_DATABASES:
                raise Reject("YAVIO-3010", f"{node.name} is not allowed: only the project's "
                                           "events can be read.")
        elif node.kind == "Function":
            name = node.name.split(" ", 1)[0]
            lowered = name.lower()
            if lowered in _OUTSIDE_FUNCTIONS or lowered.startswith(_OUTSIDE_PREFIXES):
                raise Reject("YAVIO-3010", f"The function {name}() is not allowed here.")
            arguments = node.children[0].children if node.children else []
            if lowered in _IN_FUNCTIONS and len(arguments) == 2 and \
                    arguments[1].kind == "Identifier":
                self._check_table(arguments[1].name)

    def _check_table(self, name: str) -> None:
        if "." in name or name in self.other_tables:
            raise Reject("YAVIO-3010", f"Only the tables {' and '.join(TABLES)} can be read "
                                       f"(and the query's own CTEs, named otherwise than the "
                                       f"database's tables); {name} cannot.")
