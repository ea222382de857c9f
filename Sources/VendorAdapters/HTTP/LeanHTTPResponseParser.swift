import NIOCore

/// Reads HTTP/1.x answers from the bytes one connection receives, one answer per request:
/// Content-Length, chunked and read-until-close bodies, informational (1xx) heads skipped.
/// Owned by one `LeanHTTPConnection` and used on its event loop only.
///
/// Bytes that arrive in several reads are kept in `pending` until a head or a chunk-size line
/// is whole; a body is copied once, into the answer's array.
struct LeanHTTPResponseParser {
    enum Progress {
        case needMore
        /// `reusable`: the server allows another request on this connection (HTTP/1.1 without
        /// `Connection: close`, or HTTP/1.0 with `keep-alive`) and the body's end was framed.
        case complete(LeanHTTPResponse, reusable: Bool)
    }

    private enum State {
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkEnd
        case trailers
        case untilClose
    }

    /// A status line and headers longer than this are refused rather than buffered.
    static let maximumHeadSize = 64 * 1024
    /// A chunk-size or trailer line longer than this is refused.
    static let maximumLineSize = 8 * 1024

    private var state = State.head
    private var pending: ByteBuffer?
    /// How far `pending` was searched for the head's end, so a head that comes in pieces is not
    /// searched from its start again.
    private var scanned = 0
    private var status = 0
    private var headers: [(String, String)] = []
    private var body: [UInt8] = []
    private var reusable = true
    private var expectsBody = true
    private var maximumBodySize = Int.max
    /// Whether any byte of the current answer came: a connection that ends before one did may
    /// have been closed idle by the server before it read the request.
    private(set) var hasReceivedBytes = false

    /// Bytes received after the answer's end (a server must not send any unasked).
    var hasLeftover: Bool { (pending?.readableBytes ?? 0) > 0 }

    /// Readies the parser for the answer to the next request. `expectsBody` is false for `HEAD`.
    mutating func begin(expectsBody: Bool, maximumBodySize: Int) {
        self.expectsBody = expectsBody
        self.maximumBodySize = maximumBodySize
        state = .head
        status = 0
        headers = []
        body = []
        reusable = true
        scanned = 0
        hasReceivedBytes = false
    }

    mutating func receive(_ buffer: ByteBuffer) throws(LeanHTTPError) -> Progress {
        guard buffer.readableBytes > 0 else { return .needMore }
        hasReceivedBytes = true
        if pending == nil || pending!.readableBytes == 0 {
            pending = buffer
        } else {
            var incoming = buffer
            pending!.writeBuffer(&incoming)
        }
        return try advance()
    }

    /// The server closed the connection: the end of a read-until-close body, or a truncated answer.
    mutating func receiveEnd() throws(LeanHTTPError) -> Progress {
        guard case .untilClose = state else { throw .connectionClosed }
        return finish()
    }

    private mutating func advance() throws(LeanHTTPError) -> Progress {
        while true {
            switch state {
            case .head:
                guard let length = headLength() else {
                    if pending!.readableBytes > Self.maximumHeadSize { throw .malformedResponse("a head longer than \(Self.maximumHeadSize) bytes") }
                    return .needMore
                }
                if let progress = try readHead(length: length) { return progress }
            case .fixed(let remaining):
                if remaining == 0 { return finish() }
                let count = readBody(upTo: remaining)
                if count == 0 { return .needMore }
                state = .fixed(remaining: remaining - count)
            case .chunkSize:
                guard let line = try readLine() else { return .needMore }
                let size = try Self.chunkSize(line)
                if size == 0 {
                    state = .trailers
                } else {
                    guard size <= maximumBodySize - body.count else { throw .bodyTooLarge(limit: maximumBodySize) }
                    state = .chunkData(remaining: size)
                }
            case .chunkData(let remaining):
                let count = readBody(upTo: remaining)
                if count == 0 { return .needMore }
                state = remaining == count ? .chunkEnd : .chunkData(remaining: remaining - count)
            case .chunkEnd:
                guard pending!.readableBytes >= 2 else { return .needMore }
                guard pending!.readInteger(as: UInt16.self) == 0x0D0A else { throw .malformedResponse("a chunk not ended by CRLF") }
                state = .chunkSize
            case .trailers:
                // Trailer fields are read past, not kept: vendors' answers carry none we use.
                guard let line = try readLine() else { return .needMore }
                if line.isEmpty { return finish() }
            case .untilClose:
                let count = pending!.readableBytes
                guard count <= maximumBodySize - body.count else { throw .bodyTooLarge(limit: maximumBodySize) }
                _ = readBody(upTo: count)
                return .needMore
            }
        }
    }

    private mutating func finish() -> Progress {
        let response = LeanHTTPResponse(status: status, headers: headers, body: body)
        let reusable = reusable
        state = .head
        headers = []
        body = []
        scanned = 0
        if pending?.readableBytes == 0 { pending = nil }
        return .complete(response, reusable: reusable)
    }

    /// Copies up to `limit` readable bytes into the body; returns how many.
    private mutating func readBody(upTo limit: Int) -> Int {
        let count = min(limit, pending!.readableBytes)
        guard count > 0 else { return 0 }
        pending!.withUnsafeReadableBytes { body.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
        pending!.moveReaderIndex(forwardBy: count)
        return count
    }

    /// The length of the head up to and with its blank line, when it is all there.
    private mutating func headLength() -> Int? {
        let start = max(0, scanned - 3)
        let found: Int? = pending!.withUnsafeReadableBytes { bytes in
            var index = start
            while index + 3 < bytes.count {
                if bytes[index + 3] != 0x0A {
                    // No CRLFCRLF ends at index + 3; only one starting at index + 1 can still
                    // hold that byte, and only when it is the CR.
                    index += bytes[index + 3] == 0x0D ? 1 : 4
                    continue
                }
                if bytes[index] == 0x0D && bytes[index + 1] == 0x0A && bytes[index + 2] == 0x0D { return index + 4 }
                index += 1
            }
            return nil
        }
        if found == nil { scanned = pending!.readableBytes }
        return found
    }

    /// One line ended by CRLF, without it; nil when the line is not whole yet.
    private mutating func readLine() throws(LeanHTTPError) -> [UInt8]? {
        let end: Int? = pending!.withUnsafeReadableBytes { bytes in
            guard bytes.count >= 2 else { return nil }
            for index in 0..<(bytes.count - 1) where bytes[index] == 0x0D && bytes[index + 1] == 0x0A { return index }
            return nil
        }
        guard let end else {
            if pending!.readableBytes > Self.maximumLineSize { throw .malformedResponse("a line longer than \(Self.maximumLineSize) bytes") }
            return nil
        }
        let line = pending!.readBytes(length: end)!
        pending!.moveReaderIndex(forwardBy: 2)
        return line
    }

    private static func chunkSize(_ line: [UInt8]) throws(LeanHTTPError) -> Int {
        var size = 0
        var digits = 0
        for byte in line {
            let value: Int
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = Int(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = Int(byte - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = Int(byte - UInt8(ascii: "A")) + 10
            case UInt8(ascii: ";"), UInt8(ascii: " "), UInt8(ascii: "\t"):
                // A chunk extension (or the whitespace before one) follows: ignored.
                guard digits > 0 else { throw .malformedResponse("a chunk size without digits") }
                return size
            default: throw .malformedResponse("a chunk size that is not hexadecimal")
            }
            guard digits < 15 else { throw .malformedResponse("a chunk size too large") }
            size = size << 4 | value
            digits += 1
        }
        guard digits > 0 else { throw .malformedResponse("a chunk size without digits") }
        return size
    }

    // MARK: the head

    /// What the head said about the body's framing and the connection.
    private struct Head {
        var status = 0
        var minorVersion = 1
        var headers: [(String, String)] = []
        var contentLength: Int?
        var transferEncoding = false
        var chunked = false
        var close = false
        var keepAlive = false
    }

    /// Reads the head of `length` bytes and sets the body's state; returns the answer when it
    /// has no body, nil to go on reading.
    private mutating func readHead(length: Int) throws(LeanHTTPError) -> Progress? {
        let parsed = pending!.withUnsafeReadableBytes { Self.parseHead(UnsafeRawBufferPointer(rebasing: $0.prefix(length))) }
        pending!.moveReaderIndex(forwardBy: length)
        scanned = 0
        let head = try parsed.get()
        if (100..<200).contains(head.status) {
            // Informational: the real answer's head follows. 101 (an upgrade) was never asked for.
            guard head.status != 101 else { throw .malformedResponse("an upgrade that was not asked for") }
            return nil
        }
        status = head.status
        headers = head.headers
        reusable = head.minorVersion >= 1 ? !head.close : head.keepAlive && !head.close
        if !expectsBody || head.status == 204 || head.status == 304 { return finish() }
        if head.transferEncoding {
            // A body framed by both is a smuggling risk: the length is ignored and the connection not reused.
            if head.contentLength != nil { reusable = false }
            if head.chunked {
                state = .chunkSize
            } else {
                reusable = false
                state = .untilClose
            }
        } else if let contentLength = head.contentLength {
            guard contentLength <= maximumBodySize else { throw .bodyTooLarge(limit: maximumBodySize) }
            body.reserveCapacity(contentLength)
            state = .fixed(remaining: contentLength)
        } else {
            reusable = false
            state = .untilClose
        }
        return nil
    }

    /// Parses a status line and header lines, `bytes` ending with the blank line.
    private static func parseHead(_ bytes: UnsafeRawBufferPointer) -> Result<Head, LeanHTTPError> {
        var head = Head()
        // Status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF
        let prefix: [UInt8] = Array("HTTP/1.".utf8)
        guard bytes.count >= 14, bytes.prefix(7).elementsEqual(prefix) else { return .failure(.malformedResponse("not an HTTP/1.x status line")) }
        guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[7]), bytes[8] == UInt8(ascii: " ") else {
            return .failure(.malformedResponse("not an HTTP/1.x status line"))
        }
        head.minorVersion = Int(bytes[7] - UInt8(ascii: "0"))
        var status = 0
        for index in 9..<12 {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else {
                return .failure(.malformedResponse("a status code that is not 3 digits"))
            }
            status = status * 10 + Int(bytes[index] - UInt8(ascii: "0"))
        }
        guard bytes[12] == UInt8(ascii: " ") || bytes[12] == 0x0D else { return .failure(.malformedResponse("a status code that is not 3 digits")) }
        head.status = status
        var index = 12
        while !(bytes[index] == 0x0D && bytes[index + 1] == 0x0A) { index += 1 }
        index += 2
        // Header lines until the blank one.
        while !(bytes[index] == 0x0D && bytes[index + 1] == 0x0A) {
            var end = index
            while !(bytes[end] == 0x0D && bytes[end + 1] == 0x0A) { end += 1 }
            if let failure = readHeader(UnsafeRawBufferPointer(rebasing: bytes[index..<end]), into: &head) { return .failure(failure) }
            index = end + 2
        }
        return .success(head)
    }

    private static func readHeader(_ line: UnsafeRawBufferPointer, into head: inout Head) -> LeanHTTPError? {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return .malformedResponse("a header line without a name") }
        for byte in line[..<colon] where !isTokenByte(byte) {
            // Also refuses obsolete line folding (a line that starts with whitespace).
            return .malformedResponse("a header name with a character a token cannot hold")
        }
        var start = colon + 1
        var end = line.count
        while start < end && (line[start] == 0x20 || line[start] == 0x09) { start += 1 }
        while end > start && (line[end - 1] == 0x20 || line[end - 1] == 0x09) { end -= 1 }
        let name = UnsafeRawBufferPointer(rebasing: line[..<colon])
        let value = UnsafeRawBufferPointer(rebasing: line[start..<end])
        if equalsIgnoringCase(name, "content-length") {
            guard let length = contentLength(value), head.contentLength == nil || head.contentLength == length else {
                return .malformedResponse("an invalid Content-Length")
            }
            head.contentLength = length
        } else if equalsIgnoringCase(name, "transfer-encoding") {
            head.transferEncoding = true
            // Chunked must be the last coding applied for the body to be framed by chunks.
            head.chunked = lastToken(value).map { equalsIgnoringCase($0, "chunked") } ?? false
        } else if equalsIgnoringCase(name, "connection") {
            forEachToken(value) { token in
                if equalsIgnoringCase(token, "close") { head.close = true }
                if equalsIgnoringCase(token, "keep-alive") { head.keepAlive = true }
            }
        }
        head.headers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        return nil
    }

    /// Digits only; a list of equal values (`5, 5`) is one length.
    private static func contentLength(_ value: UnsafeRawBufferPointer) -> Int? {
        var result: Int?
        var failed = false
        forEachToken(value) { token in
            guard let length = digits(token), result == nil || result == length else {
                failed = true
                return
            }
            result = length
        }
        return failed ? nil : result
    }

    private static func digits(_ token: UnsafeRawBufferPointer) -> Int? {
        guard !token.isEmpty, token.count <= 18 else { return nil }
        var number = 0
        for byte in token {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            number = number * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return number
    }

    private static func forEachToken(_ value: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        while start <= value.count {
            var end = start
            while end < value.count && value[end] != UInt8(ascii: ",") { end += 1 }
            var first = start
            var last = end
            while first < last && (value[first] == 0x20 || value[first] == 0x09) { first += 1 }
            while last > first && (value[last - 1] == 0x20 || value[last - 1] == 0x09) { last -= 1 }
            if first < last { body(UnsafeRawBufferPointer(rebasing: value[first..<last])) }
            start = end + 1
        }
    }

    private static func lastToken(_ value: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var last: UnsafeRawBufferPointer?
        forEachToken(value) { last = $0 }
        return last
    }

    private static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = lowercase.utf8Start
        for index in 0..<bytes.count {
            let byte = bytes[index]
            let folded = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
            if folded != expected[index] { return false }
        }
        return true
    }

    /// RFC 9110 `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "*"),
            UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"),
            UInt8(ascii: "~"):
            true
        default: false
        }
    }
}
