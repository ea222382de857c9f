import Hummingbird

/// A console request: who made it and the CSRF token its state-changing requests must carry.
/// Set by `ConsoleAuthMiddleware` before any route runs.
public struct ConsoleRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Nil only on the login form's routes.
    var user: String?
    var csrfToken: String?
    /// The login form's session, when it (not Basic) authenticated the request.
    var sessionId: String?

    public init(source: Source) {
        coreContext = .init(source: source)
    }
}
