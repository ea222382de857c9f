import Foundation

/// The one place that decides what is a secret in text the worker writes: log lines, replies
/// (dry-run requests, vendor bodies, error messages) and dead-letter headers. Values typed
/// `Secret` are already safe; this catches what arrives as plain data (a vendor body that echoes
/// a password, a URL with an access token, a header in an error) by field name, by pattern, and
/// by the known secret values of the command at hand.
public enum Redaction {
    public static let marker = "<redacted>"

    /// Whether a field, header or metadata key names a secret: passwords, tokens, credentials,
    /// identity documents under our names and the vendors' (`identificationNumber`, ...).
    public static func isSensitive(_ key: String) -> Bool {
        // Letters and digits only, ASCII lower case: `X-Access-Token` and `access_token` alike.
        let folded = folded(key)
        return sensitiveNames.contains(folded) || sensitiveFragments.contains { contains(folded, $0) }
    }

    private static let sensitiveNames: Set<[UInt8]> = Set(["pin", "confirmation", "pwd", "key", "apikey", "credentials"].map { Array($0.utf8) })
    private static let sensitiveFragments = [
        "password", "token", "secret", "authorization", "nationalid", "passport", "driverlicence", "driverlicense",
        "identificationnumber", "documentnumber",
    ].map { Array($0.utf8) }

    /// Whether `needle` occurs in `haystack`: a plain loop over short texts, faster here than
    /// the generic (and Foundation's) searches. With `foldingCase`, ASCII capitals in the
    /// haystack match the needle's (lower-case) letters.
    private static func contains(_ haystack: UnsafeBufferPointer<UInt8>, _ needle: UnsafeBufferPointer<UInt8>, foldingCase: Bool = false) -> Bool {
        guard let first = needle.first, haystack.count >= needle.count else { return needle.isEmpty }
        @inline(__always) func at(_ index: Int) -> UInt8 {
            let byte = haystack[index]
            return foldingCase && byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
        }
        var start = 0
        let last = haystack.count - needle.count
        while start <= last {
            if at(start) == first {
                var matched = 1
                while matched < needle.count, at(start + matched) == needle[matched] { matched += 1 }
                if matched == needle.count { return true }
            }
            start += 1
        }
        return false
    }

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        haystack.withUnsafeBufferPointer { text in needle.withUnsafeBufferPointer { contains(text, $0) } }
    }

    /// `body` over the text's UTF-8, without a copy for native strings.
    private static func withUTF8<R>(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        var text = text
        return text.withUTF8(body)
    }

    /// The text's ASCII letters and digits, letters in lower case: a plain byte search then finds
    /// names case- and separator-insensitively, without Foundation's string bridging (which
    /// runs for every log line and reply; docs/benchmarks.md).
    private static func folded(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): bytes.append(byte + 32)
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): bytes.append(byte)
            default: break
            }
        }
        return bytes
    }

    /// A JSON value with every sensitive field's value replaced, and every string scrubbed of
    /// `knownSecrets` and of secret-looking patterns.
    public static func redacted(_ value: JSONValue, knownSecrets: [String] = []) -> JSONValue {
        redactedIfChanged(value, knownSecrets: knownSecrets) ?? value
    }

    /// Nil when nothing in the value needs redacting (the usual case): then nothing is copied.
    private static func redactedIfChanged(_ value: JSONValue, knownSecrets: [String]) -> JSONValue? {
        switch value {
        case .object(let object):
            var copy: [String: JSONValue]?
            for (key, item) in object {
                let replacement: JSONValue? =
                    if isSensitive(key) && item != .null {
                        item == .string(marker) ? nil : .string(marker)
                    } else {
                        redactedIfChanged(item, knownSecrets: knownSecrets)
                    }
                guard let replacement else { continue }
                if copy == nil { copy = object }
                copy?[key] = replacement
            }
            return copy.map(JSONValue.object)
        case .array(let items):
            var copy: [JSONValue]?
            for (index, item) in items.enumerated() {
                guard let replacement = redactedIfChanged(item, knownSecrets: knownSecrets) else { continue }
                if copy == nil { copy = items }
                copy?[index] = replacement
            }
            return copy.map(JSONValue.array)
        case .string(let text):
            let scrubbed = scrub(text, knownSecrets: knownSecrets)
            return scrubbed == text ? nil : .string(scrubbed)
        default:
            return nil
        }
    }

    /// Free text (a log message, a vendor's error message) with known secret values and
    /// secret-looking fragments replaced: `access_token=...`, `Bearer ...`, `"password":"..."`,
    /// `password: ...`.
    public static func scrub(_ text: String, knownSecrets: [String] = []) -> String {
        var result = text
        for secret in knownSecrets where secret.utf8.count >= minimumSecretLength {
            let found = withUTF8(result) { bytes in withUTF8(secret) { contains(bytes, $0) } }
            if found { result = result.replacingOccurrences(of: secret, with: marker) }
        }
        // The patterns are costly; most lines have none of their words.
        let hasPatternWord = withUTF8(result) { bytes in
            patternWords.contains { word in word.withUnsafeBufferPointer { contains(bytes, $0, foldingCase: true) } }
        }
        guard hasPatternWord else { return result }
        for (pattern, template) in patterns {
            let range = NSRange(result.startIndex..., in: result)
            result = pattern.stringByReplacingMatches(in: result, range: range, withTemplate: template)
        }
        return result
    }

    /// Shorter values (a one-digit flag) would blank out unrelated text.
    static let minimumSecretLength = 4

    private static let patternWords = ["token", "password", "bearer", "secret", "authorization", "apikey", "passport", "nationalid", "licence"].map {
        Array($0.utf8)
    }
    private static let secretKey = #"[A-Za-z_-]*(?:password|token|secret|authorization|apikey|passport|nationalid|driverlicence)[A-Za-z_-]*"#
    private static let patterns: [(NSRegularExpression, String)] = [
        // Bearer tokens anywhere.
        (#"(?i)\b(bearer)\s+(?!<redacted>)[A-Za-z0-9._~+/=-]+"#, "$1 \(marker)"),
        // JSON fields: "password": "...".
        (#"(?i)("\#(secretKey)"\s*:\s*)"(?:[^"\\]|\\.)*""#, "$1\"\(marker)\""),
        // Query and form parameters, key=value and key: value pairs.
        (#"(?i)(\b\#(secretKey)\s*[=:]\s*)(?!<redacted>)[^\s&,;"'}\]]+"#, "$1\(marker)"),
    ].map { pattern, template in
        // The patterns are constants: a failure here is a programming error caught by any test.
        (try! NSRegularExpression(pattern: pattern), template)
    }
}

extension ProvisioningCommand {
    /// The command's secret values as text, to be scrubbed from whatever is said about it.
    public var secretValues: [String] {
        let typed = [password, user?.password, user?.documents?.nationalId, user?.documents?.passport, user?.documents?.driverLicence]
        var found = typed.compactMap { $0?.revealed }
        if let extensions = user?.extensions { Self.collectSensitive(.object(extensions), into: &found) }
        return found
    }

    private static func collectSensitive(_ value: JSONValue, into found: inout [String], underSecret: Bool = false) {
        switch value {
        case .object(let object):
            for (key, value) in object { collectSensitive(value, into: &found, underSecret: underSecret || Redaction.isSensitive(key)) }
        case .array(let items):
            for item in items { collectSensitive(item, into: &found, underSecret: underSecret) }
        case .string(let text) where underSecret:
            found.append(text)
        case .integer(let number) where underSecret:
            found.append(String(number))
        default:
            break
        }
    }
}

extension ProvisioningReply {
    /// Scrubs what a vendor or an error may have echoed: messages, the vendor's body, data.
    public mutating func redact(knownSecrets: [String]) {
        if let message = error?.message { error?.message = Redaction.scrub(message, knownSecrets: knownSecrets) }
        if let message = vendorResponse?.message { vendorResponse?.message = Redaction.scrub(message, knownSecrets: knownSecrets) }
        if let body = vendorResponse?.body { vendorResponse?.body = Redaction.redacted(body, knownSecrets: knownSecrets) }
        if let data { self.data = Redaction.redacted(data, knownSecrets: knownSecrets) }
    }
}
