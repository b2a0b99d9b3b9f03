"""JSON <-> Avro value conventions shared by the interop peers and the Go test.

In the JSON the peers exchange with the Go integration test:
  timestamp-millis/micros  integer milliseconds since the epoch (UTC)
  date                     "YYYY-MM-DD"
  decimal                  string with exactly `scale` digits after the point
  bytes / fixed            base64
  unions                   the plain value (no {"type": value} wrapper)
  uuid, enums              strings
"""
import base64
import datetime
import decimal

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _named(schema, names):
    if isinstance(schema, str) and schema in names:
        return names[schema]
    return schema


def collect_names(schema, names=None, ns=""):
    """Index every named type by full name so references can be followed."""
    if names is None:
        names = {}
    if isinstance(schema, list):
        for s in schema:
            collect_names(s, names, ns)
    elif isinstance(schema, dict):
        t = schema.get("type")
        if t in ("record", "error", "enum", "fixed"):
            name = schema["name"]
            space = schema.get("namespace", ns)
            full = name if "." in name else (space + "." + name if space else name)
            names[full] = schema
            if "." not in name and space:
                names.setdefault(name, schema)
            ns = full.rsplit(".", 1)[0] if "." in full else ""
        for f in schema.get("fields", []) or []:
            collect_names(f["type"], names, ns)
        for k in ("items", "values"):
            if k in schema:
                collect_names(schema[k], names, ns)
        if isinstance(t, (dict, list)):
            collect_names(t, names, ns)
    return names


def to_json(schema, value, names):
    """Avro value as decoded by fastavro -> the JSON conventions above."""
    schema = _named(schema, names)
    if value is None:
        return None
    if isinstance(schema, list):
        # fastavro gives the plain value; find the branch that fits.
        for branch in schema:
            b = _named(branch, names)
            if b == "null":
                continue
            try:
                return to_json(b, value, names)
            except (TypeError, ValueError, AttributeError, KeyError):
                continue
        raise ValueError("no union branch for %r" % (value,))
    if isinstance(schema, dict):
        logical = schema.get("logicalType")
        t = schema.get("type")
        if logical in ("timestamp-millis", "timestamp-micros", "local-timestamp-millis"):
            if isinstance(value, datetime.datetime):
                if value.tzinfo is None:
                    value = value.replace(tzinfo=datetime.timezone.utc)
                return (value - EPOCH) // datetime.timedelta(milliseconds=1)
            return int(value)
        if logical == "date":
            return value.isoformat()
        if logical == "uuid":
            return str(value)
        if logical == "decimal":
            scale = schema.get("scale", 0)
            q = decimal.Decimal(1).scaleb(-scale)
            return str(decimal.Decimal(value).quantize(q))
        if t in ("record", "error"):
            if not isinstance(value, dict):
                raise TypeError("record wants a dict")
            return {f["name"]: to_json(f["type"], value.get(f["name"]), names) for f in schema["fields"]}
        if t == "array":
            return [to_json(schema["items"], v, names) for v in value]
        if t == "map":
            return {k: to_json(schema["values"], v, names) for k, v in value.items()}
        if t == "fixed":
            return base64.b64encode(value).decode()
        if t == "enum":
            if not isinstance(value, str):
                raise TypeError("enum wants str")
            return value
        return to_json(t, value, names)
    if schema == "bytes":
        if not isinstance(value, (bytes, bytearray)):
            raise TypeError("bytes wanted")
        return base64.b64encode(value).decode()
    if schema == "string":
        if not isinstance(value, str):
            raise TypeError("string wanted")
        return value
    if schema == "boolean":
        if not isinstance(value, bool):
            raise TypeError("boolean wanted")
        return value
    if schema in ("int", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("integer wanted")
        return value
    if schema in ("float", "double"):
        return float(value)
    return value


def from_json(schema, value, names):
    """The JSON conventions above -> a value fastavro serializes."""
    schema = _named(schema, names)
    if value is None:
        return None
    if isinstance(schema, list):
        for branch in schema:
            b = _named(branch, names)
            if b == "null":
                continue
            try:
                return from_json(b, value, names)
            except (TypeError, ValueError, KeyError, decimal.InvalidOperation):
                continue
        raise ValueError("no union branch for %r" % (value,))
    if isinstance(schema, dict):
        logical = schema.get("logicalType")
        t = schema.get("type")
        if logical in ("timestamp-millis", "timestamp-micros", "local-timestamp-millis"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError("timestamp wants integer millis")
            return EPOCH + datetime.timedelta(milliseconds=value)
        if logical == "date":
            return datetime.date.fromisoformat(value)
        if logical == "decimal":
            return decimal.Decimal(value)
        if t in ("record", "error"):
            if not isinstance(value, dict):
                raise TypeError("record wants an object")
            return {f["name"]: from_json(f["type"], value.get(f["name"]), names) for f in schema["fields"]}
        if t == "array":
            return [from_json(schema["items"], v, names) for v in value]
        if t == "map":
            return {k: from_json(schema["values"], v, names) for k, v in value.items()}
        if t == "fixed":
            return base64.b64decode(value)
        if t == "enum":
            if value not in schema["symbols"]:
                raise ValueError("not a symbol")
            return value
        return from_json(t, value, names)
    if schema == "bytes":
        return base64.b64decode(value)
    if schema == "string":
        if not isinstance(value, str):
            raise TypeError("string wanted")
        return value
    if schema in ("int", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("integer wanted")
        return value
    if schema == "boolean":
        if not isinstance(value, bool):
            raise TypeError("boolean wanted")
        return value
    if schema in ("float", "double"):
        return float(value)
    return value
