import Foundation
import ProvisioningContract

/// The console's operator account (contract section 10). Compared in constant time: how long a
/// refusal takes says nothing about how much of a guess was right.
public struct ConsoleCredentials: Sendable {
    public let username: String
    let password: Secret

    public init(username: String, password: Secret) {
        self.username = username
        self.password = password
    }

    /// Whether an `Authorization: Basic ...` header carries these credentials.
    func accepts(authorization: String?) -> Bool {
        guard let authorization, authorization.count > 6, authorization.prefix(6).lowercased() == "basic ",
            let decoded = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces))
        else { return false }
        let given = Array(decoded)
        let separator = given.firstIndex(of: UInt8(ascii: ":")) ?? given.endIndex
        let user = Array(given[..<separator])
        let pass = separator < given.endIndex ? Array(given[(separator + 1)...]) : []
        return accepts(username: user, password: pass)
    }

    /// Both compared in full, whatever the first comparison said.
    func accepts(username user: [UInt8], password pass: [UInt8]) -> Bool {
        let userMatches = Self.constantTimeEquals(user, Array(username.utf8))
        let passwordMatches = Self.constantTimeEquals(pass, Array(password.revealed.utf8))
        return userMatches && passwordMatches
    }

    /// Time depends on the lengths only, never on where the bytes differ.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        let length = max(a.count, b.count)
        for index in 0..<length {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= x ^ y
        }
        return difference == 0 && a.count == b.count
    }

    /// For `provisioner dev` to print the credentials it made up; nothing else shows them.
    public var revealedPassword: String { password.revealed }

    /// Made up for `provisioner dev`: an unguessable password, printed once.
    public static func madeUp() -> ConsoleCredentials {
        ConsoleCredentials(username: "ops", password: Secret(Token.random(bytes: 12)))
    }
}

/// Random tokens: session ids, CSRF tokens, made-up passwords.
enum Token {
    /// `bytes` random bytes (the system's generator, getrandom on Linux) as lower-case hex.
    static func random(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }
}
