"""Cursor-on-Target over TCP: the stream of events back to back (XML, or TAK protocol frames),
split into single messages incrementally, whatever the chunks it arrives in."""
from __future__ import annotations

import re

from borderwatch.feeds import records
from borderwatch.feeds.cot import MAX_MESSAGE_BYTES
from borderwatch.feeds.records import Rejected

# States of the incremental scanner.
_BETWEEN, _CONTENT, _TAG, _QUOTE, _COMMENT, _CDATA, _PI, _DTD, _SKIP = range(9)
_FIND_TAG = re.compile(rb"[>\"'<]")
_NEXT_MESSAGE = re.compile(rb"[<\xbf]")
_FIND_DTD = re.compile(rb"[\[\]>\"'<]")
_FIND_QUOTE = {(b'"', True): re.compile(rb'["<]'), (b"'", True): re.compile(rb"['<]"),
               (b'"', False): re.compile(rb'"'), (b"'", False): re.compile(rb"'")}
_PLAIN_START = re.compile(rb"(?:<\?xml[^<>?]*\?>\s*)?<event[\s>/]")
_OPENERS = (b"<![CDATA[", b"<!DOCTYPE", b"<!--", b"<?xml ", b"<event ", b"<event\n", b"<event\t", b"<event\r")


class CotStreamSplitter:
    """Cuts a TCP byte stream into CoT events sent back to back, each possibly preceded by its own
    XML declaration, whatever the packet boundaries.

    ``feed(data)`` returns a list of ``(message_bytes, None)`` for each complete event and
    ``(None, reason)`` for each fragment that cannot be an event: text outside any element, an
    event cut short by the start of the next one, an oversized event (skipped without being
    buffered). The scanner keeps its state between reads, so every byte is looked at once and
    memory per connection stays below the size limit.
    """

    def __init__(self, max_bytes: int = MAX_MESSAGE_BYTES):
        self.max_bytes = max_bytes
        self.buf = bytearray()
        self.pos = 0
        self.start: int | None = None  # start of the current message in buf
        self.dropped = 0  # bytes of the current message already discarded (oversized)
        self.state = _BETWEEN
        self.ret = _CONTENT  # state to return to after a quote / comment
        self.depth = 0
        self.dtd_depth = 0
        self.quote = b'"'
        self.tag_is_end = False
        self.prolog_junk = False
        self.root: bytes | None = None
        self.junk = 0  # bytes of text outside any event, not yet reported
        self.junk_excerpt = b""
        self.skip_left = 0  # bytes of an oversized protobuf frame still to skip

    # public -----------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[tuple[bytes | None, str | None]]:
        out: list[tuple[bytes | None, str | None]] = []
        self.buf += data
        self._scan(out)
        self._trim(out)
        return out

    def close(self) -> list[tuple[bytes | None, str | None]]:
        """End of stream: report whatever incomplete fragment is left."""
        out: list[tuple[bytes | None, str | None]] = []
        self._flush_junk(out)
        if self.start is not None:
            size = self.dropped + len(self.buf) - self.start
            out.append((None, f"stream ended inside an event ({size:,} bytes): "
                              f"{records.excerpt(bytes(self.buf[self.start:self.start + 200]))}"))
        elif self.state == _BETWEEN and self.buf[self.pos:self.pos + 1] == b"\xbf":
            out.append((None, f"stream ended inside a TAK protocol frame ({len(self.buf) - self.pos:,} bytes)"))
        self.__init__(self.max_bytes)
        return out

    @property
    def pending_bytes(self) -> int:
        return len(self.buf)

    # scanner ----------------------------------------------------------------------------
    def _begin(self, at: int) -> None:
        self.start = at
        self.dropped = 0
        self.depth = 0
        self.root = None
        self.prolog_junk = False
        self.state = _CONTENT

    def _emit(self, out, end: int) -> None:
        size = self.dropped + end - self.start
        if self.dropped or size > self.max_bytes:
            out.append((None, f"oversized message ({size:,} bytes > limit {self.max_bytes:,})"))
        else:
            out.append((bytes(self.buf[self.start:end]), None))
        self.start = None
        self.dropped = 0
        self.state = _BETWEEN

    def _broken(self, out, at: int, why: str) -> None:
        """The message in progress cannot be completed; a new one begins at ``at``."""
        size = self.dropped + at - self.start
        text = records.excerpt(bytes(self.buf[self.start:min(at, self.start + 200)]))
        out.append((None, f"malformed XML: {why} ({size:,} bytes): {text}"))
        self._begin(at)

    def _flush_junk(self, out) -> None:
        if self.junk:
            out.append((None, f"data outside any event ({self.junk:,} bytes): {records.excerpt(self.junk_excerpt)}"))
            self.junk = 0
            self.junk_excerpt = b""

    def _scan(self, out) -> None:
        buf = self.buf
        n = len(buf)
        while self.pos < n:
            st = self.state
            if st == _BETWEEN:
                i = self.pos
                while i < n and buf[i] in b" \t\r\n\x00":
                    i += 1
                if i >= n:
                    self.pos = n
                    return
                if buf[i] == 0x3C:  # '<'
                    self._flush_junk(out)
                    self.pos = i
                    if self._fast(out, i):
                        continue
                    self._begin(i)
                    continue
                if buf[i] == 0xBF:  # TAK protocol version 1: 0xBF <varint length> <protobuf>
                    self._flush_junk(out)
                    self.pos = i
                    if not self._protobuf_frame(out, i):
                        return  # wait for the rest of the frame
                    continue
                m = _NEXT_MESSAGE.search(buf, i)
                j = m.start() if m else -1
                end = n if j < 0 else j
                if len(self.junk_excerpt) < 200:
                    self.junk_excerpt += bytes(buf[i:min(end, i + 200)])
                self.junk += end - i
                self.pos = end
                if j < 0:
                    if self.junk > self.max_bytes:
                        self._flush_junk(out)
                    return
                continue
            if st == _CONTENT:
                j = buf.find(b"<", self.pos)
                if self.depth == 0 and buf[self.pos:n if j < 0 else j].strip(b" \t\r\n\x00"):
                    self.prolog_junk = True  # text before the root element
                if j < 0:
                    self.pos = n
                    return
                if self.prolog_junk:
                    self.prolog_junk = False
                    self._broken(out, j, "text before the root element")
                self.pos = j
                if n - j < 9:  # '<![CDATA[' is the longest opener to recognise
                    head = bytes(buf[j:n])
                    if any(o.startswith(head) for o in _OPENERS):
                        return  # wait for more bytes to classify this markup
                self._open_markup(out, j)
                continue
            if st == _TAG:
                m = _FIND_TAG.search(buf, self.pos)
                if m is None:
                    self.pos = n
                    return
                j = m.start()
                c = buf[j]
                if c == 0x3E:  # '>'
                    self.pos = j + 1
                    self._close_tag(out, j)
                elif c == 0x3C:  # '<' cannot occur inside a tag
                    self._broken(out, j, "unterminated tag")
                    self.pos = j
                else:
                    self.quote = bytes([c])
                    self.ret = _TAG
                    self.state = _QUOTE
                    self.pos = j + 1
                continue
            if st == _QUOTE:
                m = _FIND_QUOTE[(self.quote, self.ret == _TAG)].search(buf, self.pos)
                if m is None:
                    self.pos = n
                    return
                j = m.start()
                if buf[j] == 0x3C:  # '<' is not allowed in an attribute value
                    self._broken(out, j, "unterminated attribute value")
                    self.pos = j
                else:
                    self.state = self.ret
                    self.pos = j + 1
                continue
            if st in (_COMMENT, _CDATA, _PI):
                term = {_COMMENT: b"-->", _CDATA: b"]]>", _PI: b"?>"}[st]
                j = buf.find(term, self.pos)
                if j < 0:
                    self.pos = max(self.pos, n - len(term) + 1)
                    return
                self.pos = j + len(term)
                self.state = self.ret if st == _COMMENT else _CONTENT
                continue
            if st == _SKIP:
                take = min(self.skip_left, n - self.pos)
                self.pos += take
                self.skip_left -= take
                if self.skip_left == 0:
                    self.state = _BETWEEN
                continue
            if st == _DTD:
                m = _FIND_DTD.search(buf, self.pos)
                if m is None:
                    self.pos = n
                    return
                j = m.start()
                c = buf[j]
                self.pos = j + 1
                if c == 0x5B:  # '['
                    self.dtd_depth += 1
                elif c == 0x5D:  # ']'
                    self.dtd_depth = max(0, self.dtd_depth - 1)
                elif c == 0x3E:  # '>'
                    if self.dtd_depth == 0:
                        self.state = _CONTENT
                elif c == 0x3C:  # '<': a declaration, or a comment, inside the internal subset
                    if n - j < 4:
                        self.pos = j
                        return
                    if buf[j:j + 4] == b"<!--":
                        self.ret = _DTD
                        self.state = _COMMENT
                        self.pos = j + 4
                else:
                    self.quote = bytes([c])
                    self.ret = _DTD
                    self.state = _QUOTE
                continue

    def _protobuf_frame(self, out, i: int) -> bool:
        """A TAK protocol stream frame at ``buf[i]``; False when more bytes are needed. Emitted in
        mesh form (``0xBF 0x01 0xBF`` + message), which ``parse_event`` reads."""
        from borderwatch.feeds import takv1

        buf = self.buf
        try:
            got = takv1.read_varint(buf, i + 1)
        except Rejected as exc:
            out.append((None, exc.reason))
            self.pos = i + 1
            return True
        if got is None:
            return False
        length, start = got
        if length == 0:
            out.append((None, "empty TAK protocol frame"))
            self.pos = start
            return True
        if length > self.max_bytes:
            out.append((None, f"oversized message ({length:,} bytes > limit {self.max_bytes:,})"))
            self.pos = start
            self.skip_left = length
            self.state = _SKIP
            return True
        if len(buf) - start < length:
            return False
        out.append((takv1.MESH + bytes(buf[start:start + length]), None))
        self.pos = start + length
        return True

    def _fast(self, out, i: int) -> bool:
        """Fast path for the common case: a complete, plain event (optional XML declaration, no
        comment, CDATA, DTD or nested event) lies in the buffer; it ends at the first ``</event>``
        because ``<`` cannot occur in attribute values or text. Anything else is scanned."""
        k = self.buf.find(b"</event>", i, i + self.max_bytes + 8)
        if k < 0:
            return False
        end = k + 8
        cand = self.buf[i:end]
        m = _PLAIN_START.match(cand)
        if m is None or b"<!" in cand or cand.count(b"<event", m.end()) or cand.count(b"<?", m.end()):
            return False
        out.append((bytes(cand), None))
        self.pos = end
        return True

    def _open_markup(self, out, j: int) -> None:
        buf = self.buf
        head = bytes(buf[j:j + 9])
        if head.startswith(b"<?"):
            if self.depth > 0 and re.match(rb"<\?xml[\s?]", head):
                self._broken(out, j, "event cut short by a new XML declaration")
            self.ret = _CONTENT
            self.state = _PI
            self.pos = j + 2
        elif head.startswith(b"<!--"):
            self.ret = _CONTENT
            self.state = _COMMENT
            self.pos = j + 4
        elif head.startswith(b"<![CDATA["):
            self.state = _CDATA
            self.pos = j + 9
        elif head.startswith(b"<!"):
            self.dtd_depth = 0
            self.state = _DTD
            self.pos = j + 2
        elif head.startswith(b"</"):
            self.tag_is_end = True
            self.state = _TAG
            self.pos = j + 2
        else:
            m = re.match(rb"<([A-Za-z_:][-A-Za-z0-9_:.]*)", head) if len(head) > 1 else None
            name = m.group(1) if m else b""
            if self.depth > 0 and self.root == b"event" and name == b"event" and len(head) > 6 \
                    and head[6:7] in (b" ", b"\t", b"\r", b"\n", b">", b"/"):
                self._broken(out, j, "event cut short by the start of the next event")
            if self.depth == 0 and self.root is None:
                self.root = name or b"?"
            self.tag_is_end = False
            self.state = _TAG
            self.pos = j + 1

    def _close_tag(self, out, gt: int) -> None:
        if self.tag_is_end and self.depth <= 0:
            size = self.dropped + gt + 1 - self.start
            text = records.excerpt(bytes(self.buf[self.start:min(gt + 1, self.start + 200)]))
            out.append((None, f"malformed XML: closing tag with no open element ({size:,} bytes): {text}"))
            self.start = None
            self.dropped = 0
            self.state = _BETWEEN
            return
        if self.tag_is_end:
            self.depth -= 1
        elif self.buf[gt - 1] != 0x2F:  # not '/>'
            self.depth += 1
        self.state = _CONTENT
        if self.depth <= 0 and self.root is not None:
            self._emit(out, gt + 1)

    def _trim(self, out) -> None:
        """Drop consumed bytes; drop (and count) the bytes of an oversized message in progress."""
        if self.start is not None:
            keep_from = self.start
            if self.dropped + self.pos - self.start > self.max_bytes:
                self.dropped += self.pos - self.start
                keep_from = self.pos
                self.start = self.pos
            cut = keep_from
        else:
            cut = self.pos
        if cut > 0:
            del self.buf[:cut]
            self.pos -= cut
            if self.start is not None:
                self.start -= cut
