import Provisioning
import ProvisioningContract

/// Vendor session tokens, one per target, fetched once however many commands need one at the
/// same moment, and dropped when the vendor stops accepting them. Tokens are `Secret`s: they
/// never reach a log or a reply.
actor TokenCache {
    private var tokens: [String: Task<Secret, any Error>] = [:]

    /// The cached token for `key`, or the one `fetch` gets (shared by concurrent callers).
    func token(_ key: String, fetch: @escaping @Sendable () async throws(AdapterFailure) -> Secret) async throws(AdapterFailure) -> Secret {
        let task: Task<Secret, any Error>
        if let cached = tokens[key] {
            task = cached
        } else {
            task = Task { try await fetch() }
            tokens[key] = task
        }
        do {
            return try await task.value
        } catch {
            if tokens[key] == task { tokens[key] = nil }
            throw error as? AdapterFailure ?? AdapterFailure(.internal, message: "token: \(type(of: error))")
        }
    }

    /// Forgets `token` if it is still the cached one (another caller may have renewed it already).
    func invalidate(_ key: String, token: Secret) async {
        guard let task = tokens[key] else { return }
        if (try? await task.value) == token, tokens[key] == task { tokens[key] = nil }
    }
}

extension VendorHTTPClient {
    /// Sends a request that carries a session token; a 401 renews the token once and retries.
    func sendAuthorized(
        _ target: ProvisioningTarget, tokens: TokenCache, fetch: @escaping @Sendable () async throws(AdapterFailure) -> Secret,
        authorize request: @Sendable (Secret) -> VendorRequest
    ) async throws(AdapterFailure) -> VendorHTTPResponse {
        let token = try await tokens.token(target.name, fetch: fetch)
        let response = try await send(request(token), to: target)
        guard response.status == 401 else { return response }
        await tokens.invalidate(target.name, token: token)
        let renewed = try await tokens.token(target.name, fetch: fetch)
        return try await send(request(renewed), to: target)
    }
}
