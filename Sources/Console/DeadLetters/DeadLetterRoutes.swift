import Foundation
import Hummingbird
import Redrive

/// The dead-letter pages and the redrive API behind their panel.
struct DeadLetterRoutes: Sendable {
    let deadLetters: DeadLetterWindow
    let history: RedriveHistory
    let desk: RedriveDesk

    func add(to router: Router<ConsoleRequestContext>) {
        router.get("/dead-letters") { request, context -> Response in
            let query = DeadLettersPage.Query(Dictionary(request.uri.queryParameters.map { (String($0.key), String($0.value)) }) { _, last in last })
            let letters: [DeadLetter]
            var problem: String?
            switch query.request.filter() {
            case .success(let filter): letters = deadLetters.matching(filter)
            case .failure(let error):
                letters = []
                problem = "\(error.field): \(error.message)"
            }
            return DeadLettersPage.render(
                letters, query: query, error: problem, redriven: history.redriven, counts: deadLetters.counts, context: context)
        }
        router.get("/dead-letters/:partition/:offset") { _, context -> Response in
            guard let partition = context.parameters.get("partition", as: Int32.self), let offset = context.parameters.get("offset", as: Int64.self),
                let letter = deadLetters.letter(at: DeadLetter.Position(partition: partition, offset: offset))
            else { return Self.json(["error": "no such dead letter in the console's window"], status: .notFound) }
            return DeadLettersPage.detail(letter, redriven: history.redriven[letter.position], context: context)
        }
        router.get("/redrives") { _, context in RedrivesPage.render(history.all, context: context) }

        router.post("/api/redrives/preview") { request, context -> Response in
            switch try await plan(request, context) {
            case .success(let (plan, _)): return Self.json(RedrivePreview(plan))
            case .failure(let error): return Self.json(["error": "\(error.field): \(error.message)", "field": error.field], status: .badRequest)
            }
        }
        router.post("/api/redrives") { request, context -> Response in
            switch try await plan(request, context) {
            case .success(let (plan, asked)):
                guard !plan.letters.isEmpty else { return Self.json(["error": "nothing to redrive"], status: .badRequest) }
                let redrive = desk.begin(plan, by: context.user ?? "console", asDryRun: asked.asDryRun ?? false, rate: asked.rate)
                return Self.json(RedriveProgress(redrive), status: .accepted)
            case .failure(let error): return Self.json(["error": "\(error.field): \(error.message)", "field": error.field], status: .badRequest)
            }
        }
        router.get("/api/redrives/:id") { _, context -> Response in
            guard let redrive = desk.redrive(context.parameters.get("id") ?? "") else { return Self.json(["error": "unknown redrive"], status: .notFound) }
            return Self.json(RedriveProgress(redrive))
        }
        router.get("/api/redrives/:id/events") { _, context -> Response in
            guard let redrive = desk.redrive(context.parameters.get("id") ?? "") else { return Self.json(["error": "unknown redrive"], status: .notFound) }
            return Self.progressEvents(redrive)
        }
        for action in ["pause", "resume", "cancel"] {
            router.post("/api/redrives/:id/\(action)") { _, context -> Response in
                guard let redrive = desk.redrive(context.parameters.get("id") ?? "") else {
                    return Self.json(["error": "unknown redrive"], status: .notFound)
                }
                switch action {
                case "pause": redrive.pause()
                case "resume": redrive.resume()
                default: redrive.cancel()
                }
                return Self.json(RedriveProgress(redrive))
            }
        }
    }

    /// The plan a request asks for, over the dead letters the console holds.
    private func plan(_ request: Request, _ context: ConsoleRequestContext) async throws -> Result<(RedrivePlan, RedriveRequest), RedriveRequestError> {
        let asked: RedriveRequest
        do {
            asked = try JSONDecoder().decode(RedriveRequest.self, from: Data(buffer: try await request.body.collect(upTo: 1 << 20)))
        } catch {
            return .failure(RedriveRequestError(field: "body", message: "must be a JSON object of filters and options"))
        }
        return asked.filter().map { filter in
            (RedrivePlan(deadLetters: deadLetters.all, history: history.all, filter: filter, includeReplayed: asked.includeReplayed ?? false), asked)
        }
    }

    /// Server-sent events: the progress whenever it changes (looked at 5 times a second), until
    /// the redrive ends or the page goes away.
    static func progressEvents(_ redrive: Redrive) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
            body: ResponseBody { writer in
                var last: Redrive.Progress?
                while !Task.isCancelled {
                    let progress = redrive.progress
                    if progress != last {
                        last = progress
                        let data = try JSONEncoder().encode(RedriveProgress(redrive))
                        try await writer.write(ByteBuffer(string: "data: \(String(decoding: data, as: UTF8.self))\n\n"))
                        if [.completed, .cancelled, .failed].contains(progress.state) { break }
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
                try await writer.finish(nil)
            })
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
