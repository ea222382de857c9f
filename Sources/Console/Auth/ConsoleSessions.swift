import Foundation
import Synchronization

/// Signed-in browsers (the login form) and the CSRF token of each. A Basic-auth client has
/// no session; its token is the process's own, which only a page served to it reveals.
final class ConsoleSessions: Sendable {
    struct Session: Sendable {
        let csrfToken: String
        var lastSeen: ContinuousClock.Instant
    }

    /// The most sessions kept; the least recently seen goes first. Memory stays bounded.
    private let capacity: Int
    private let idleTimeout: Duration
    private let sessions = Mutex<[String: Session]>([:])
    /// For requests authenticated with Basic: one token for the process's lifetime.
    let basicCSRFToken = Token.random(bytes: 32)

    init(capacity: Int = 1000, idleTimeout: Duration = .seconds(8 * 3600)) {
        self.capacity = capacity
        self.idleTimeout = idleTimeout
    }

    /// A new session id and its CSRF token.
    func open() -> (id: String, csrfToken: String) {
        let id = Token.random(bytes: 32)
        let token = Token.random(bytes: 32)
        sessions.withLock { sessions in
            if sessions.count >= capacity, let oldest = sessions.min(by: { $0.value.lastSeen < $1.value.lastSeen })?.key {
                sessions[oldest] = nil
            }
            sessions[id] = Session(csrfToken: token, lastSeen: .now)
        }
        return (id, token)
    }

    /// The session's CSRF token, if the id is known and not idle too long (it is then refreshed).
    func csrfToken(for id: String) -> String? {
        sessions.withLock { sessions in
            guard var session = sessions[id] else { return nil }
            guard ContinuousClock.now - session.lastSeen < idleTimeout else {
                sessions[id] = nil
                return nil
            }
            session.lastSeen = .now
            sessions[id] = session
            return session.csrfToken
        }
    }

    func close(_ id: String) {
        sessions.withLock { _ = $0.removeValue(forKey: id) }
    }
}
