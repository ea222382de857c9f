import Provisioning
import ProvisioningContract
import Synchronization
import Testing

@testable import VendorAdapters

@Suite("Session tokens", .timeLimit(.minutes(10)))
struct TokenCacheTests {
    /// A fetch that waits until the test lets it finish, counting its calls.
    final class GatedFetch: Sendable {
        let calls = Mutex(0)
        let gate: AsyncStream<Result<Secret, AdapterFailure>>
        let open: AsyncStream<Result<Secret, AdapterFailure>>.Continuation

        init() { (gate, open) = AsyncStream.makeStream() }

        func fetch() async throws(AdapterFailure) -> Secret {
            calls.withLock { $0 += 1 }
            var iterator = gate.makeAsyncIterator()
            guard let result = await iterator.next() else { throw AdapterFailure(.internal, message: "gate closed") }
            return try result.get()
        }
    }

    @Test("callers that need a token while it is fetched wait for that one fetch and all get its token", .timeLimit(.minutes(1)))
    func oneFetchForConcurrentCallers() async throws {
        let cache = TokenCache()
        let fetch = GatedFetch()
        try await withThrowingTaskGroup(of: Secret.self) { group in
            for _ in 0..<5 { group.addTask { try await cache.token("t", fetch: fetch.fetch) } }
            // The callers queue on the actor; the gate opens once, for the one fetch.
            fetch.open.yield(.success(Secret("token-1")))
            for try await token in group { #expect(token == Secret("token-1")) }
        }
        #expect(fetch.calls.withLock { $0 } == 1)
        #expect(try await cache.token("t", fetch: fetch.fetch) == Secret("token-1"), "cached")
    }

    @Test("a failed fetch fails its waiters too and is not cached: the next caller fetches again")
    func failureIsNotCached() async throws {
        let cache = TokenCache()
        let fetch = GatedFetch()
        fetch.open.yield(.failure(AdapterFailure(.unavailable, message: "token endpoint down", retryable: true)))
        await #expect(throws: AdapterFailure.self) { try await cache.token("t", fetch: fetch.fetch) }
        fetch.open.yield(.success(Secret("token-2")))
        #expect(try await cache.token("t", fetch: fetch.fetch) == Secret("token-2"))
        #expect(fetch.calls.withLock { $0 } == 2)
    }

    @Test("invalidating the cached token makes the next caller fetch a new one; an old token invalidates nothing")
    func invalidate() async throws {
        let cache = TokenCache()
        let fetch = GatedFetch()
        fetch.open.yield(.success(Secret("token-1")))
        _ = try await cache.token("t", fetch: fetch.fetch)
        await cache.invalidate("t", token: Secret("stale"))
        #expect(try await cache.token("t", fetch: fetch.fetch) == Secret("token-1"))
        await cache.invalidate("t", token: Secret("token-1"))
        fetch.open.yield(.success(Secret("token-2")))
        #expect(try await cache.token("t", fetch: fetch.fetch) == Secret("token-2"))
    }
}
