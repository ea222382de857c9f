import Provisioning
import ProvisioningContract

/// Vendor session tokens, one per target, fetched once however many commands need one at the
/// same moment, and dropped when the vendor stops accepting them. Tokens are `Secret`s: they
/// never reach a log or a reply.
///
/// The fetch runs in the task of the first caller that needs it, never in a task of its own, so
/// nothing of the cache outlives the commands that use it; callers arriving meanwhile wait for
/// that fetch and get its token or its failure.
actor TokenCache {
    private enum Entry {
        case fetching(waiters: [CheckedContinuation<Secret, any Error>])
        case ready(Secret)
    }

    private var entries: [String: Entry] = [:]

    /// The cached token for `key`, or the one `fetch` gets (shared by concurrent callers).
    func token(_ key: String, fetch: @Sendable () async throws(AdapterFailure) -> Secret) async throws(AdapterFailure) -> Secret {
        switch entries[key] {
        case .ready(let token):
            return token
        case .fetching:
            do {
                return try await withCheckedThrowingContinuation { continuation in
                    // No suspension since the switch: the entry is still fetching.
                    guard case .fetching(var waiters) = entries[key] else {
                        return continuation.resume(throwing: AdapterFailure(.internal, message: "token: fetch ended unseen"))
                    }
                    waiters.append(continuation)
                    entries[key] = .fetching(waiters: waiters)
                }
            } catch {
                throw error as? AdapterFailure ?? AdapterFailure(.internal, message: "token: \(type(of: error))")
            }
        case nil:
            entries[key] = .fetching(waiters: [])
            let result: Result<Secret, AdapterFailure>
            do { result = .success(try await fetch()) } catch { result = .failure(error) }
            // Only `token` changes a fetching entry, and only this call ends it: it is still ours.
            guard case .fetching(let waiters) = entries[key] else { return try result.get() }
            switch result {
            case .success(let token):
                entries[key] = .ready(token)
                for waiter in waiters { waiter.resume(returning: token) }
            case .failure(let failure):
                entries[key] = nil
                for waiter in waiters { waiter.resume(throwing: failure) }
            }
            return try result.get()
        }
    }

    /// Forgets `token` if it is still the cached one (another caller may have renewed it already).
    func invalidate(_ key: String, token: Secret) {
        if case .ready(let cached) = entries[key], cached == token { entries[key] = nil }
    }
}

extension VendorHTTPClient {
    /// Sends a request that carries a session token; a 401 renews the token once and retries.
    func sendAuthorized(
        _ target: ProvisioningTarget, tokens: TokenCache, fetch: @Sendable () async throws(AdapterFailure) -> Secret,
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
