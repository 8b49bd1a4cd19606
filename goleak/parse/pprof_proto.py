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
import gc
import re
import zlib
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

from goleak.errors import InputError
from goleak.model import Frame

__all__ = ["ProfileSample", "DecodedProfile", "is_gzip", "looks_like_profile_proto", "decode_profile",
           "hide_runtime_frames"]


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


class _Unusual(Exception):
    """A fast loop met something it leaves to the general reader (_fields)."""


def _tag(field: int, wire: int) -> int:
    """The tag byte(s) that start a field: field number and wire type."""
    return field << 3 | wire


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


# One varint inside a packed run: up to nine bytes with the high bit set, then one without.
_VARINT_TOKEN = re.compile(rb"[\x80-\xff]{0,9}[\x00-\x7f]")


class _VarintCache(dict):
    """Encoded varint (bytes) -> value. Packed location ids repeat from sample to sample."""

    def __missing__(self, token: bytes) -> int:
        if len(self) > 200_000:
            self.clear()
        value = self[token] = _varint(token, 0)[0]
        return value


_varint_cache = _VarintCache()


def _packed(blob: bytes, what: str) -> List[int]:
    """A packed run of varints."""
    if blob.isascii():  # every value below 128: one byte each
        return list(blob)
    tokens = _VARINT_TOKEN.findall(blob)
    if sum(map(len, tokens)) != len(blob):  # a varint cut short, or longer than 10 bytes
        try:
            pos = 0
            while pos < len(blob):
                _, pos = _varint(blob, pos)
        except _Malformed as e:
            raise _Malformed("%s (in the packed %s)" % (e, what)) from None
        raise _Malformed("bad varint in the packed %s" % what)  # not reached
    return list(map(_varint_cache.__getitem__, tokens))


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


def _wire_error(message: str, field: int, wire: int) -> _Malformed:
    return _Malformed("%s field %d has wire type %d, which profile.proto does not give it" % (message, field, wire))


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


# The hot messages of a big profile are Sample and Label (one Sample per distinct stack and
# label set, one Label per label). Each has a fast loop that reads the tags Go writes, with
# one-byte tags compared whole, and hands anything else (another encoder's fields, packed
# values, broken bytes) to the general reader, which also gives the error messages.

# A label as read: (key index, str index, num, whether num was present).
RawLabel = Tuple[int, int, int, bool]

_LABEL_KEY = _tag(1, _VARINT)  # 0x08
_LABEL_STR = _tag(2, _VARINT)  # 0x10


def _label(buf: bytes) -> RawLabel:
    """Label: 1 key, 2 str (string indexes), 3 num (int64), 4 num_unit (string index).

    Go writes each with int64Opt, so a label whose value is "" carries only its key.
    """
    try:  # fast loop: Go writes `08 key 10 str`
        key = text = 0
        pos = 0
        end = len(buf)
        while pos < end:
            tag = buf[pos]
            value = buf[pos + 1]
            pos += 2
            if value >= 0x80:
                value, pos = _varint(buf, pos - 1)
            if tag == _LABEL_KEY:
                key = value
            elif tag == _LABEL_STR:
                text = value
            else:
                raise _Unusual
        return key, text, 0, False
    except (_Unusual, _Malformed, IndexError):
        pass

    key = text = num = 0
    has_num = False
    for field, wire, value in _fields(buf, "a Label"):
        if field <= 3 and wire != _VARINT:
            raise _wire_error("Label", field, wire)
        if field == 1:
            key = value  # type: ignore[assignment]
        elif field == 2:
            text = value  # type: ignore[assignment]
        elif field == 3:
            num = _int64(value)  # type: ignore[arg-type]
            has_num = True
    return key, text, num, has_num


# A sample as read: (location ids, values, labels as raw Label bytes).
RawSample = Tuple[Tuple[int, ...], List[int], List[bytes]]

_SAMPLE_LOCATION = _tag(1, _VARINT)      # 0x08, one id (Go: stacks of one or two locations)
_SAMPLE_LOCATIONS = _tag(1, _LEN)        # 0x0a, packed ids (Go: more than two)
_SAMPLE_VALUE = _tag(2, _VARINT)         # 0x10, one value (Go: goroutine profiles have one)
_SAMPLE_VALUES = _tag(2, _LEN)           # 0x12, packed values (Go: CPU profiles... have more)
_SAMPLE_LABEL = _tag(3, _LEN)            # 0x1a


def _sample(buf: bytes) -> RawSample:
    """Sample: 1 location_id (repeated uint64), 2 value (repeated int64), 3 label (repeated Label)."""
    try:  # fast loop: Go writes `10 value`, `0a len ids...` (`08 id` if at most two), `1a len label`...
        locations: List[int] = []
        values: List[int] = []
        labels: List[bytes] = []
        pos = 0
        end = len(buf)
        while pos < end:
            tag = buf[pos]
            n = buf[pos + 1]
            pos += 2
            if n >= 0x80:
                n, pos = _varint(buf, pos - 1)
            if tag & 7 == _LEN:
                stop = pos + n
                if stop > end:
                    raise _Unusual
                blob = buf[pos:stop]
                pos = stop
                if tag == _SAMPLE_LABEL:
                    labels.append(blob)
                elif tag == _SAMPLE_LOCATIONS:
                    locations.extend(blob if blob.isascii() else _packed(blob, "Sample.location_id"))
                elif tag == _SAMPLE_VALUES:
                    values.extend([_int64(v) for v in _packed(blob, "Sample.value")])
                else:
                    raise _Unusual
            elif tag == _SAMPLE_VALUE and n < _SIGN64:
                values.append(n)
            elif tag == _SAMPLE_LOCATION:
                locations.append(n)
            else:
                raise _Unusual
        return tuple(locations), values, labels
    except (_Unusual, _Malformed, IndexError):
        pass

    locations = []
    values = []
    labels = []
    for field, wire, value in _fields(buf, "a Sample"):
        if field == 1:
            locations.extend(_repeated(wire, value, "Sample.location_id"))
        elif field == 2:
            values.extend([_int64(v) for v in _repeated(wire, value, "Sample.value")])
        elif field == 3:
            labels.append(_message(wire, value, "Sample.label"))
    return tuple(locations), values, labels


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


_PROFILE_PERIOD_TYPE = _tag(11, _LEN)

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
    by_tag = {_tag(field, _LEN): target for field, target in lists.items()}
    try:  # fast loop over the tags Go writes: every Profile tag is one byte
        pos = 0
        end = len(buf)
        while pos < end:
            tag = buf[pos]
            if tag < 8 or tag >= 0x80:  # field 0, or a tag of more than one byte
                raise _Unusual
            n = buf[pos + 1]
            pos += 2
            if n >= 0x80:
                n, pos = _varint(buf, pos - 1)
            if tag & 7 == _LEN:
                stop = pos + n
                if stop > end:
                    raise _Unusual
                target = by_tag.get(tag)
                if target is not None:
                    target.append(buf[pos:stop])
                elif tag == _PROFILE_PERIOD_TYPE:
                    raw.period_type = buf[pos:stop]
                pos = stop  # others (mapping, packed comments): skipped
            elif tag & 7 != _VARINT or tag | _LEN in by_tag or tag | _LEN == _PROFILE_PERIOD_TYPE:
                raise _Unusual
            # else a varint (period, time_nanos...): skipped
        return raw
    except (_Unusual, _Malformed, IndexError):
        pass

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
        self.resolved = 0  # location references that did resolve

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
        # Unlike a dangling id, a dangling string index means the table (written last) was
        # cut short or the bytes are corrupt: nothing read can be trusted then.
        if index >= len(self.strings):
            raise _Malformed("string index %d is past the end of the string table (%d strings): "
                             "the profile is cut short or corrupt" % (index, len(self.strings)))
        return self.strings[index]

    def _frames(self, lines: List[Tuple[int, int]]) -> Tuple[Frame, ...]:
        if not lines:  # not symbolized: the debug=1 printer shows only its PC
            return (UNKNOWN_FRAME,)
        frames = []
        for function_id, line in lines:
            function = self.functions.get(function_id)
            if function is None or not function[0]:  # a dangling id, or a nameless function
                frames.append(UNKNOWN_FRAME)
            else:
                frames.append(Frame(function[0], function[1], line))
        return tuple(frames)

    def stack(self, location_ids: Tuple[int, ...]) -> Tuple[Frame, ...]:
        frames: List[Frame] = []
        for location_id in location_ids:
            found = self.locations.get(location_id)
            if found is None:  # a dangling id: kept as "?" so the stack keeps its depth
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
        labels = tuple(map(r.label, label_bufs)) if label_bufs else ()
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


def _plausible_fields(buf: bytes, allowed: Dict[int, Tuple[int, ...]], cut: bool) -> bool:
    """Are all the fields of buf of known numbers and wire types (sub-messages too)?

    When `cut`, buf may end anywhere (it is the start of a longer stream): running out of
    bytes is then no evidence against it.
    """
    top = allowed is _PROFILE_WIRE_TYPES
    pos = 0
    end = len(buf)
    tags = 0
    try:
        while pos < end:
            tag, pos = _varint(buf, pos)
            field, wire = tag >> 3, tag & 7
            if wire not in allowed.get(field, ()):
                return False
            tags += 1
            if wire == _VARINT:
                _, pos = _varint(buf, pos)
            else:
                n, pos = _varint(buf, pos)
                if n >= 1 << 31 or (pos + n > end and not cut):
                    return False
                kind = _PROFILE_SUBMESSAGES.get(field) if top else None
                if kind is not None and not _plausible_fields(buf[pos:pos + n], _MESSAGE_FIELDS[kind], pos + n > end):
                    return False
                pos += n
    except _Malformed:  # a varint runs past the end
        return cut and (tags > 0 or not top)
    return tags > 0 or not top


def looks_like_profile_proto(data: bytes) -> bool:
    """A cheap check on the first bytes of data: do they read as a Profile message?

    Every field in the first 4 KiB must be a Profile field with its proper wire type, and the
    sub-messages among them must hold only their own fields (text passes that test by chance
    for a field or two, not for a whole page). Go's goroutine profile starts with
    period_type (field 11: the byte 'Z'), period (12) and sample_type (1). Gzipped data is
    inflated first (4 KiB of it).
    """
    try:
        data = bytes(data[:65536])
        if is_gzip(data):
            data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, 4096)
        return _plausible_fields(data[:4096], _PROFILE_WIRE_TYPES, True)
    except Exception:  # a check never raises (zlib.error for corrupt gzip...)
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


def decode_profile(data: bytes, source: str, *, hide_runtime: bool = True) -> DecodedProfile:
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
        # Decoding makes hundreds of thousands of small tuples and no cycle: the cyclic
        # garbage collector would only slow it down (by a third, measured).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return _build(_profile(data), hide_runtime)
        finally:
            if gc_was_enabled:
                gc.enable()
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
