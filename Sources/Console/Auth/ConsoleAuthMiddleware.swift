import Foundation
import HTTPTypes
import Hummingbird

/// Every page and data answer needs the operator's credentials (HTTP Basic, or the login form's
/// session cookie); every state-changing request also needs its CSRF token and must come from
/// the console's own pages (contract section 10).
struct ConsoleAuthMiddleware: RouterMiddleware {
    typealias Context = ConsoleRequestContext
    static let sessionCookie = "console_session"
    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!

    let credentials: ConsoleCredentials
    let sessions: ConsoleSessions

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if request.method == .get, request.uri.path.hasPrefix("/assets/") {
            // The style sheet: no data in it, and the login form needs it.
            return try await next(request, context)
        }
        if request.uri.path == "/login" {
            // The form itself, and its POST: a cross-site login is refused like any other.
            guard request.method == .get || Self.isSameOrigin(request) else { return Self.refused("cross-site request") }
            return try await next(request, context)
        }
        if credentials.accepts(authorization: request.headers[.authorization]) {
            context.user = credentials.username
            context.csrfToken = sessions.basicCSRFToken
        } else if let id = request.cookies[Self.sessionCookie]?.value, let token = sessions.csrfToken(for: id) {
            context.user = credentials.username
            context.csrfToken = token
            context.sessionId = id
        } else {
            return Self.unauthenticated(request)
        }
        if request.method != .get, request.method != .head {
            guard Self.isSameOrigin(request) else { return Self.refused("cross-site request") }
            let given = Array((request.headers[Self.csrfHeader] ?? "").utf8)
            guard let expected = context.csrfToken, ConsoleCredentials.constantTimeEquals(given, Array(expected.utf8)) else {
                return Self.refused("missing or wrong CSRF token")
            }
        }
        return try await next(request, context)
    }

    /// A browser says where a request comes from (`Sec-Fetch-Site`, `Origin`); a request from
    /// another site is refused even with valid credentials. Clients that say nothing (curl) pass
    /// here and still need the token.
    static func isSameOrigin(_ request: Request) -> Bool {
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], site != "same-origin", site != "none" { return false }
        if let origin = request.headers[.origin] {
            guard let host = request.head.authority, origin == "http://\(host)" || origin == "https://\(host)" else {
                return false
            }
        }
        return true
    }

    /// Pages send a browser to the login form; everything else gets 401 with a Basic challenge.
    static func unauthenticated(_ request: Request) -> Response {
        let wantsPage = request.method == .get && (request.headers[.accept] ?? "").contains("text/html") && !request.uri.path.hasPrefix("/api/")
        if wantsPage {
            return Response(status: .seeOther, headers: [.location: "/login"])
        }
        return Response(
            status: .unauthorized,
            headers: [.wwwAuthenticate: #"Basic realm="provisioner console", charset="UTF-8""#, .contentType: "text/plain; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: "authentication required\n")))
    }

    static func refused(_ reason: String) -> Response {
        Response(status: .forbidden, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: reason + "\n")))
    }
}
