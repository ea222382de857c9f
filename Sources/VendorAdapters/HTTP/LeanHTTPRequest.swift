import NIOCore

/// One request's bytes as they go on the wire: request line, headers and body encoded into one
/// buffer, so that a connection sends it with one write and one flush.
///
/// Build it in order: `init` (request line and `Host`), `addHeader` for each header, then
/// `finish` once (framing headers, the blank line and the body).
struct LeanHTTPRequest: Sendable {
    private(set) var bytes: ByteBuffer
    /// GET, HEAD, PUT, DELETE, OPTIONS: sent again once when a reused connection turns out to
    /// have been closed by the server before any answer came. Never a POST.
    let isIdempotent: Bool
    /// False for HEAD, whose answer has no body whatever its headers say.
    let expectsResponseBody: Bool
    /// POST, PUT and PATCH say `Content-Length: 0` when they have no body (servers may refuse
    /// them without a length); other methods send no framing header then.
    private let framesEmptyBody: Bool

    /// `target` is the origin-form request target (path and query), already percent-encoded.
    init(method: String, target: [UInt8], hostHeader: String, bodyCapacity: Int = 0) {
        switch method {
        case "GET", "HEAD", "PUT", "DELETE", "OPTIONS": isIdempotent = true
        default: isIdempotent = false
        }
        expectsResponseBody = method != "HEAD"
        switch method {
        case "POST", "PUT", "PATCH": framesEmptyBody = true
        default: framesEmptyBody = false
        }
        bytes = ByteBufferAllocator().buffer(capacity: 256 + target.count + bodyCapacity)
        bytes.writeString(method)
        bytes.writeInteger(UInt8(ascii: " "))
        if target.isEmpty { bytes.writeInteger(UInt8(ascii: "/")) } else { bytes.writeBytes(target) }
        bytes.writeStaticString(" HTTP/1.1\r\nHost: ")
        bytes.writeString(hostHeader)
        bytes.writeStaticString("\r\n")
    }

    /// Refuses a name that is not a token and a value with a control character (a CR or LF would
    /// end the header and let the rest pose as another).
    mutating func addHeader(_ name: String, _ value: String) throws(LeanHTTPError) {
        guard !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte), value.utf8.allSatisfy(Self.isValueByte) else {
            throw .invalidHeader(name: name.utf8.allSatisfy(Self.isTokenByte) ? name : "(not a token)")
        }
        bytes.writeString(name)
        bytes.writeStaticString(": ")
        bytes.writeString(value)
        bytes.writeStaticString("\r\n")
    }

    /// Ends the head and appends `body` with its `Content-Length`.
    mutating func finish(body: [UInt8]?, contentType: StaticString? = nil) {
        if let body {
            if let contentType {
                bytes.writeStaticString("Content-Type: ")
                bytes.writeStaticString(contentType)
                bytes.writeStaticString("\r\n")
            }
            bytes.writeStaticString("Content-Length: ")
            bytes.writeString(String(body.count))
            bytes.writeStaticString("\r\n\r\n")
            bytes.writeBytes(body)
        } else if framesEmptyBody {
            bytes.writeStaticString("Content-Length: 0\r\n\r\n")
        } else {
            bytes.writeStaticString("\r\n")
        }
    }

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

    /// Visible ASCII, space, tab and bytes of UTF-8 sequences; no other control characters.
    private static func isValueByte(_ byte: UInt8) -> Bool {
        byte == 0x09 || (byte >= 0x20 && byte != 0x7F)
    }
}
