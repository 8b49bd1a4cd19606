"""Decode the gzipped protobuf goroutine profile (`/debug/pprof/goroutine`, debug=0).

Pure Python: the protobuf wire format is read by hand (stdlib zlib only), following the
encoder in Go's src/runtime/pprof/proto.go and protobuf.go and the schema in
github.com/google/pprof/proto/profile.proto.

Wire format in brief: a message is a run of fields; each field starts with a varint tag
`field_number << 3 | wire_type`. Wire type 0 is a varint, 1 a fixed 8-byte value, 2 a
varint length then that many bytes (a string, a sub-message or a packed run of varints),
5 a fixed 4-byte value. Repeated scalar fields may come packed (one wire type 2 field) or
unpacked (one wire type 0 field per value); Go writes packed only for more than two values,
so both are read everywhere. Unknown fields are skipped.

Layout of what Go writes for a goroutine profile (debug=0):

    Profile.period_type {goroutine, count}, Profile.period 1, Profile.sample_type {goroutine, count}
    then, interleaved: Location (and the Functions it introduced first) ... Sample ...
    then Mapping, and last of all the string table

so every string index can only be resolved once the whole message has been read.
"""
import zlib
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

from goleak.errors import InputError
from goleak.model import Frame

__all__ = ["ProfileSample", "DecodedProfile", "is_gzip", "looks_like_profile_proto", "decode_profile"]


@dataclass(frozen=True)
class ProfileSample:
    count: int                           # value of the goroutine/count sample type
    frames: Tuple[Frame, ...]            # innermost first, inlined frames expanded
    labels: Tuple[Tuple[str, str], ...]  # (key, str) or (key, str(num)), in sample order


@dataclass(frozen=True)
class DecodedProfile:
    sample_types: Tuple[Tuple[str, str], ...]  # (type, unit), e.g. (("goroutine", "count"),)
    samples: Tuple[ProfileSample, ...]
    period_type: Optional[Tuple[str, str]]


# What an unsymbolized location (or a reference that does not resolve) becomes. The debug=1
# printer shows such a frame as a bare `#\t0xPC`, which goleak's text reader turns into
# Frame("?") too, so both formats give the same stack.
UNKNOWN_FRAME = Frame("?")

_GZIP_MAGIC = b"\x1f\x8b"
_MASK64 = (1 << 64) - 1
_SIGN64 = 1 << 63

# Wire types.
_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5

# A field as _fields() returns it: (field number, wire type, value). The value is an int for
# wire types 0, 1 and 5, and the bytes of the field for wire type 2.
Field = Tuple[int, int, Union[int, bytes]]


class _Malformed(Exception):
    """The wire format is broken; turned into InputError at the top."""


# -- wire format -------------------------------------------------------------------------

def _varint(buf: bytes, pos: int) -> Tuple[int, int]:
    """Read the varint at buf[pos]; return (value, position after it)."""
    result = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise _Malformed("a varint runs past the end of its message")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & _MASK64, pos
        shift += 7
        if shift >= 70:
            raise _Malformed("a varint is longer than 10 bytes")


def _fields(buf: bytes, what: str) -> List[Field]:
    """Split one message into its fields. `what` names the message for error messages."""
    out: List[Field] = []
    append = out.append
    pos = 0
    end = len(buf)
    try:
        while pos < end:
            b = buf[pos]
            if b < 0x80:  # every profile.proto tag fits in one byte
                tag = b
                pos += 1
            else:
                tag, pos = _varint(buf, pos)
            field = tag >> 3
            wire = tag & 7
            if field == 0:
                raise _Malformed("field number 0")
            if wire == _VARINT:
                b = buf[pos] if pos < end else 0x80
                if b < 0x80:
                    value: Union[int, bytes] = b
                    pos += 1
                else:
                    value, pos = _varint(buf, pos)
            elif wire == _LEN:
                b = buf[pos] if pos < end else 0x80
                if b < 0x80:
                    n = b
                    pos += 1
                else:
                    n, pos = _varint(buf, pos)
                stop = pos + n
                if stop > end:
                    raise _Malformed("field %d claims %d bytes but only %d remain" % (field, n, end - pos))
                value = buf[pos:stop]
                pos = stop
            elif wire == _FIXED64 or wire == _FIXED32:
                size = 8 if wire == _FIXED64 else 4
                if pos + size > end:
                    raise _Malformed("a fixed-size field %d runs past the end" % field)
                value = int.from_bytes(buf[pos:pos + size], "little")
                pos += size
            else:
                raise _Malformed("field %d has wire type %d, which profile.proto never uses" % (field, wire))
            append((field, wire, value))
    except _Malformed as e:
        raise _Malformed("%s (in %s, at byte %d of %d)" % (e, what, pos, end)) from None
    return out


def _packed(blob: bytes, what: str) -> List[int]:
    """A packed run of varints."""
    if blob.isascii():  # every value below 128: one byte each
        return list(blob)
    out = []
    pos = 0
    end = len(blob)
    try:
        while pos < end:
            b = blob[pos]
            if b < 0x80:
                out.append(b)
                pos += 1
            else:
                v, pos = _varint(blob, pos)
                out.append(v)
    except _Malformed as e:
        raise _Malformed("%s (in the packed %s)" % (e, what)) from None
    return out


def _repeated(wire: int, value: Union[int, bytes], what: str) -> List[int]:
    """The values of one occurrence of a repeated varint field, packed or not."""
    if wire == _LEN:
        return _packed(value, what)  # type: ignore[arg-type]
    if wire == _VARINT:
        return [value]  # type: ignore[list-item]
    raise _Malformed("%s has wire type %d" % (what, wire))


def _int64(v: int) -> int:
    """A varint read as int64 (negative numbers are sent as 10-byte two's complement)."""
    return v - (1 << 64) if v & _SIGN64 else v


def _scalar(wire: int, value: Union[int, bytes], what: str) -> int:
    if wire != _VARINT:
        raise _Malformed("%s has wire type %d, expected a varint" % (what, wire))
    return value  # type: ignore[return-value]


def _message(wire: int, value: Union[int, bytes], what: str) -> bytes:
    if wire != _LEN:
        raise _Malformed("%s has wire type %d, expected a message" % (what, wire))
    return value  # type: ignore[return-value]


# -- one small function per message ------------------------------------------------------
# Each returns string-table indexes; they are resolved once the table (last) has been read.

def _value_type(buf: bytes) -> Tuple[int, int]:
    """ValueType: 1 type (string index), 2 unit (string index)."""
    typ = unit = 0
    for field, wire, value in _fields(buf, "a ValueType"):
        if field == 1:
            typ = _scalar(wire, value, "ValueType.type")
        elif field == 2:
            unit = _scalar(wire, value, "ValueType.unit")
    return typ, unit


# A label as read: (key index, str index, num, whether num was present).
RawLabel = Tuple[int, int, int, bool]


def _label(buf: bytes) -> RawLabel:
    """Label: 1 key, 2 str (string indexes), 3 num (int64), 4 num_unit (string index).

    Go writes each with int64Opt, so a label whose value is "" carries only its key.
    """
    key = text = num = 0
    has_num = False
    for field, wire, value in _fields(buf, "a Label"):
        if field == 1:
            key = _scalar(wire, value, "Label.key")
        elif field == 2:
            text = _scalar(wire, value, "Label.str")
        elif field == 3:
            num = _int64(_scalar(wire, value, "Label.num"))
            has_num = True
    return key, text, num, has_num


# A sample as read: (location ids, values, labels as raw Label bytes).
RawSample = Tuple[Tuple[int, ...], List[int], Tuple[bytes, ...]]


def _sample(buf: bytes) -> RawSample:
    """Sample: 1 location_id (repeated uint64), 2 value (repeated int64), 3 label (repeated Label)."""
    locations: List[int] = []
    values: List[int] = []
    labels: List[bytes] = []
    for field, wire, value in _fields(buf, "a Sample"):
        if field == 1:
            locations.extend(_repeated(wire, value, "Sample.location_id"))
        elif field == 2:
            values.extend(_int64(v) for v in _repeated(wire, value, "Sample.value"))
        elif field == 3:
            labels.append(_message(wire, value, "Sample.label"))
    return tuple(locations), values, tuple(labels)


def _line(buf: bytes) -> Tuple[int, int]:
    """Line: 1 function_id (uint64), 2 line (int64), 3 column (int64, ignored)."""
    function_id = line = 0
    for field, wire, value in _fields(buf, "a Line"):
        if field == 1:
            function_id = _scalar(wire, value, "Line.function_id")
        elif field == 2:
            line = _int64(_scalar(wire, value, "Line.line"))
    return function_id, line


def _location(buf: bytes) -> Tuple[int, List[Tuple[int, int]]]:
    """Location: 1 id, 2 mapping_id, 3 address, 4 line (repeated Line), 5 is_folded.

    The lines of one location are one PC's inlining chain, innermost function first.
    """
    location_id = 0
    lines: List[Tuple[int, int]] = []
    for field, wire, value in _fields(buf, "a Location"):
        if field == 1:
            location_id = _scalar(wire, value, "Location.id")
        elif field == 4:
            lines.append(_line(_message(wire, value, "Location.line")))
    return location_id, lines


def _function(buf: bytes) -> Tuple[int, int, int, int]:
    """Function: 1 id, 2 name, 3 system_name, 4 filename (string indexes), 5 start_line."""
    function_id = name = system_name = filename = 0
    for field, wire, value in _fields(buf, "a Function"):
        if field == 1:
            function_id = _scalar(wire, value, "Function.id")
        elif field == 2:
            name = _scalar(wire, value, "Function.name")
        elif field == 3:
            system_name = _scalar(wire, value, "Function.system_name")
        elif field == 4:
            filename = _scalar(wire, value, "Function.filename")
    return function_id, name, system_name, filename


class _RawProfile:
    """Profile as read off the wire, before any string index is resolved."""

    def __init__(self) -> None:
        self.sample_types: List[bytes] = []   # 1 sample_type (repeated ValueType)
        self.samples: List[bytes] = []        # 2 sample (repeated Sample)
        # 3 mapping (repeated Mapping): not needed, skipped
        self.locations: List[bytes] = []      # 4 location (repeated Location)
        self.functions: List[bytes] = []      # 5 function (repeated Function)
        self.strings: List[bytes] = []        # 6 string_table (repeated string; [0] is "")
        # 7 drop_frames, 8 keep_frames, 9 time_nanos, 10 duration_nanos: not needed
        self.period_type: Optional[bytes] = None  # 11 period_type (ValueType)
        # 12 period, 13 comment (repeated string index), 14 default_sample_type: not needed


# Profile field number -> the wire types it may come with (repeated varints: 0 or packed 2).
_PROFILE_WIRE_TYPES = {
    1: (_LEN,), 2: (_LEN,), 3: (_LEN,), 4: (_LEN,), 5: (_LEN,), 6: (_LEN,),
    7: (_VARINT,), 8: (_VARINT,), 9: (_VARINT,), 10: (_VARINT,), 11: (_LEN,), 12: (_VARINT,),
    13: (_VARINT, _LEN), 14: (_VARINT,), 15: (_VARINT,),
}


def _profile(buf: bytes) -> _RawProfile:
    """Profile, top level: sort the fields into their lists (field numbers in _RawProfile)."""
    raw = _RawProfile()
    lists = {1: raw.sample_types, 2: raw.samples, 4: raw.locations, 5: raw.functions, 6: raw.strings}
    for field, wire, value in _fields(buf, "the Profile message"):
        target = lists.get(field)
        if target is not None:
            target.append(_message(wire, value, "Profile field %d" % field))
        elif field == 11:
            raw.period_type = _message(wire, value, "Profile.period_type")
    return raw


# -- resolving -----------------------------------------------------------------------------

class _Resolver:
    """Turn raw ids and string indexes into names, Frames and labels."""

    def __init__(self, raw: _RawProfile):
        self.strings = [s.decode("utf-8", "replace") for s in raw.strings]
        if not self.strings:
            raise _Malformed("the profile has no string table")
        if self.strings[0] != "":
            raise _Malformed("string_table[0] is %r; profile.proto requires it to be empty" % self.strings[0][:40])
        self.unresolved = 0  # references (location, function, string) that pointed nowhere
        self.resolved = 0    # location references that did resolve

        # Function id -> (name, file).
        self.functions: Dict[int, Tuple[str, str]] = {}
        for buf in raw.functions:
            function_id, name, system_name, filename = _function(buf)
            self.functions.setdefault(function_id, (self.string(name) or self.string(system_name),
                                                    self.string(filename)))

        # Location id -> its frames, innermost first.
        self.locations: Dict[int, Tuple[Frame, ...]] = {}
        for buf in raw.locations:
            location_id, lines = _location(buf)
            self.locations.setdefault(location_id, self._frames(lines))

        self.label_cache: Dict[bytes, Tuple[str, str]] = {}

    def string(self, index: int) -> str:
        try:
            return self.strings[index]
        except IndexError:
            self.unresolved += 1
            return ""

    def _frames(self, lines: List[Tuple[int, int]]) -> Tuple[Frame, ...]:
        if not lines:  # not symbolized: the debug=1 printer shows only its PC
            return (UNKNOWN_FRAME,)
        frames = []
        for function_id, line in lines:
            function = self.functions.get(function_id)
            if function is None:
                self.unresolved += 1
                frames.append(UNKNOWN_FRAME)
            elif not function[0]:
                frames.append(UNKNOWN_FRAME)
            else:
                frames.append(Frame(function[0], function[1], line))
        return tuple(frames)

    def stack(self, location_ids: Tuple[int, ...]) -> Tuple[Frame, ...]:
        frames: List[Frame] = []
        for location_id in location_ids:
            found = self.locations.get(location_id)
            if found is None:
                self.unresolved += 1
                frames.append(UNKNOWN_FRAME)
            else:
                self.resolved += 1
                frames.extend(found)
        return tuple(frames)

    def label(self, buf: bytes) -> Tuple[str, str]:
        cached = self.label_cache.get(buf)
        if cached is None:
            key, text, num, has_num = _label(buf)
            if has_num and not text:
                cached = (self.string(key), str(num))
            else:
                cached = (self.string(key), self.string(text))
            self.label_cache[buf] = cached
        return cached


def _is_runtime(name: str) -> bool:
    return name.startswith("runtime.") or name.startswith("internal/runtime/")


def hide_runtime_frames(frames: Tuple[Frame, ...]) -> Tuple[Frame, ...]:
    """Drop what Go's debug=1 printer (printStackRecord in runtime/pprof/pprof.go) hides.

    runtime.goexit is never shown; runtime.* and internal/runtime/* frames are hidden until
    the first other frame (an unsymbolized frame counts as other). If that leaves nothing,
    every frame but runtime.goexit is shown.
    """
    shown = []
    show = False
    for frame in frames:
        name = frame.function
        if name == "runtime.goexit":
            continue
        if show or name == "?" or not _is_runtime(name):
            show = True
            shown.append(frame)
    if not show:
        return tuple(f for f in frames if f.function != "runtime.goexit")
    return tuple(shown)


def _count_index(sample_types: Tuple[Tuple[str, str], ...]) -> int:
    """Which value of a sample is the goroutine count."""
    for i, (typ, _unit) in enumerate(sample_types):
        if typ in ("goroutine", "goroutineleak"):
            return i
    for i, (_typ, unit) in enumerate(sample_types):
        if unit == "count":
            return i
    return 0


def _build(raw: _RawProfile, hide_runtime: bool) -> DecodedProfile:
    r = _Resolver(raw)
    sample_types = tuple((r.string(t), r.string(u)) for t, u in map(_value_type, raw.sample_types))
    period_type = None
    if raw.period_type is not None:
        t, u = _value_type(raw.period_type)
        period_type = (r.string(t), r.string(u))
    if not sample_types and not raw.samples:
        raise _Malformed("no sample types and no samples: not a pprof profile")
    index = _count_index(sample_types)

    stacks: Dict[Tuple[int, ...], Tuple[Frame, ...]] = {}
    samples = []
    referenced = 0
    for n, buf in enumerate(raw.samples, 1):
        location_ids, values, label_bufs = _sample(buf)
        if index >= len(values):
            raise _Malformed("sample %d has %d values but its count is value %d" % (n, len(values), index + 1))
        count = values[index]
        if count < 0:
            raise _Malformed("sample %d has a negative count (%d)" % (n, count))
        frames = stacks.get(location_ids)
        if frames is None:
            frames = r.stack(location_ids)
            if hide_runtime:
                frames = hide_runtime_frames(frames)
            stacks[location_ids] = frames
        referenced += len(location_ids)
        labels = tuple(r.label(b) for b in label_bufs)
        samples.append(ProfileSample(count, frames, labels))

    # References that do not resolve are tolerated (they read as "?" frames) unless none does.
    if referenced and not r.resolved:
        raise _Malformed("none of the %d location ids the samples use is defined in the profile" % referenced)
    return DecodedProfile(sample_types=sample_types, samples=tuple(samples), period_type=period_type)


# -- entry points ------------------------------------------------------------------------

def is_gzip(data: bytes) -> bool:
    return data[:2] == _GZIP_MAGIC


# Which fields each message may hold, for the cheap format check: {field: wire types}.
_MESSAGE_FIELDS = {
    "ValueType": {1: (_VARINT,), 2: (_VARINT,)},
    "Sample": {1: (_VARINT, _LEN), 2: (_VARINT, _LEN), 3: (_LEN,)},
    "Mapping": {i: (_VARINT,) for i in range(1, 11)},
    "Location": {1: (_VARINT,), 2: (_VARINT,), 3: (_VARINT,), 4: (_LEN,), 5: (_VARINT,)},
    "Function": {i: (_VARINT,) for i in range(1, 6)},
}
_PROFILE_SUBMESSAGES = {1: "ValueType", 2: "Sample", 3: "Mapping", 4: "Location", 5: "Function", 11: "ValueType"}


def _plausible_fields(buf: bytes, allowed: Dict[int, Tuple[int, ...]], cut: bool, limit: int) -> bool:
    """Do the first `limit` fields of buf have known numbers and wire types?

    When `cut`, buf may end anywhere (it is the start of a longer stream): running out of
    bytes is then no evidence against it.
    """
    pos = 0
    end = len(buf)
    checked = 0
    try:
        while pos < end and checked < limit:
            tag, pos = _varint(buf, pos)
            field, wire = tag >> 3, tag & 7
            if wire not in allowed.get(field, ()):
                return False
            if wire == _VARINT:
                _, pos = _varint(buf, pos)
            else:
                n, pos = _varint(buf, pos)
                if pos + n > end and not cut:
                    return False
                kind = _PROFILE_SUBMESSAGES.get(field) if allowed is _PROFILE_WIRE_TYPES else None
                if kind is not None and not _plausible_fields(
                        buf[pos:pos + n], _MESSAGE_FIELDS[kind], pos + n > end, 8):
                    return False
                pos += n
            checked += 1
    except _Malformed:
        return cut and checked > 0
    return checked > 0


def looks_like_profile_proto(data: bytes) -> bool:
    """A cheap check on the first bytes of (decompressed) data: does it read as a Profile?

    The first few fields must be Profile fields with their proper wire types, and the
    sub-messages among them must hold only their own fields. Go's goroutine profile starts
    with period_type (field 11: the byte 'Z'), period (12) and sample_type (1).
    """
    try:
        return bool(data) and _plausible_fields(bytes(data[:4096]), _PROFILE_WIRE_TYPES, True, 4)
    except Exception:  # a check never raises
        return False


def _gunzip(data: bytes) -> bytes:
    out = []
    while True:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out.append(d.decompress(data))
        out.append(d.flush())
        if not d.eof:
            raise _Malformed("truncated gzip data: the compressed stream ends early")
        data = d.unused_data
        if not is_gzip(data):  # trailing bytes that are not another member: ignored, like gzip -d
            return b"".join(out)


def decode_profile(data: bytes, source: str, hide_runtime: bool = True) -> DecodedProfile:
    """Decode a (gzipped or raw) protobuf profile.

    Raises InputError, and only InputError, when the bytes are not a readable profile.
    With hide_runtime (the default) each sample's leading runtime frames are hidden the way
    the debug=1 printer hides them, so both formats give the same stacks.
    """
    try:
        data = bytes(data)
        if is_gzip(data):
            try:
                data = _gunzip(data)
            except zlib.error as e:
                raise _Malformed("corrupt gzip data: %s" % e) from None
        if not data:
            raise _Malformed("empty profile")
        return _build(_profile(data), hide_runtime)
    except _Malformed as e:
        raise InputError(_one_line(str(e), "malformed protobuf profile: "), source) from None
    except Exception as e:  # a bug's IndexError, TypeError... or MemoryError: still one InputError
        raise InputError(_one_line("%s: %s" % (type(e).__name__, e), "could not decode the protobuf profile: "),
                         source) from None


def _one_line(message: str, prefix: str) -> str:
    message = " ".join(message.split())
    if not message.startswith(("truncated gzip", "corrupt gzip", "empty profile")):
        message = prefix + message
    return message
