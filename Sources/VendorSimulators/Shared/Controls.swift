import Foundation
import ProvisioningContract

/// The `/_sim/` control API (docs/vendors.md "The simulator"): JSON in, JSON out, never faulted.
enum Controls {
    static func problem(_ status: Int, _ message: String) -> SimResponse {
        .json(status, .object(["error": .string(message)]))
    }

    static let done = SimResponse.json(200, .object(["result": .bool(true)]))

    /// The `vendor` of a control body: nil = every vendor; an unknown name is an error.
    static func vendor(_ body: [String: JSONValue]) -> Result<SimulatedVendor?, SimResponseError> {
        switch body["vendor"] {
        case nil, .null?: return .success(nil)
        case .string(let name)?:
            guard let vendor = SimulatedVendor(rawValue: name.lowercased()) else {
                return .failure(SimResponseError(problem(400, "unknown vendor '\(name)' (tecs, urac, servicemobility, asms)")))
            }
            return .success(vendor)
        default: return .failure(SimResponseError(problem(400, "vendor must be a string")))
        }
    }

    static func body(_ request: SimRequest) -> [String: JSONValue]? {
        request.isBodyEmpty ? [:] : request.jsonObject
    }

    static func faultsJSON(_ simulator: VendorSimulator) -> JSONValue {
        .object(
            Dictionary(
                uniqueKeysWithValues: SimulatedVendor.allCases.map { vendor in
                    let faults = simulator.faults(vendor)
                    // A whole rate (0 or 1) reads as an integer, `"failureRate":1`, as the
                    // simulator has always answered; the one JSONWriter writes a Double as one.
                    let failureRate = Int64(exactly: faults.failureRate).map(JSONValue.integer) ?? .number(faults.failureRate)
                    return (
                        vendor.rawValue,
                        JSONValue.object([
                            "latencyMs": .integer(Int64(faults.latencyMs)), "failureRate": failureRate,
                            "failureStatus": .integer(Int64(faults.failureStatus)), "retryAfterSeconds": .integer(Int64(faults.retryAfterSeconds)),
                            "stallMs": .integer(Int64(faults.stallMs)), "down": .bool(faults.down),
                        ])
                    )
                }))
    }

    static func handle(_ request: SimRequest, simulator: VendorSimulator) -> SimResponse {
        let path = request.segments
        if request.method == "GET", path.count == 2, path[1] == "users" {
            guard let vendor = SimulatedVendor(rawValue: path[0].lowercased()) else { return problem(404, "unknown vendor '\(path[0])'") }
            return .json(200, .array(simulator.users(vendor)))
        }
        switch (request.method, path.joined(separator: "/")) {
        case ("POST", "reset"):
            simulator.reset()
            return done
        case ("GET", "stats"):
            return .json(
                200,
                .object(
                    Dictionary(
                        uniqueKeysWithValues: SimulatedVendor.allCases.map { vendor in
                            let stats = simulator.stats(vendor)
                            return (
                                vendor.rawValue, JSONValue.object(["calls": .integer(Int64(stats.calls)), "tokensIssued": .integer(Int64(stats.tokensIssued))])
                            )
                        })))
        case ("GET", "faults"):
            return .json(200, faultsJSON(simulator))
        case ("GET", "observed"):
            let observed = simulator.observed
            return .json(
                200, .object(["tokens": .array(observed.tokens.map(JSONValue.string)), "traceparents": .array(observed.traceparents.map(JSONValue.string))]))
        case ("DELETE", "faults"):
            simulator.clearFaults()
            return .json(200, faultsJSON(simulator))
        case ("PUT", "faults"), ("POST", "faults"):
            guard let body = body(request) else { return problem(400, "the body must be a JSON object") }
            let vendor: SimulatedVendor?
            switch self.vendor(body) {
            case .success(let value): vendor = value
            case .failure(let failure): return failure.response
            }
            let faults: SimulatorFaults
            do {
                faults = try JSONDecoder().decode(SimulatorFaults.self, from: Data(request.isBodyEmpty ? Array("{}".utf8) : request.body))
            } catch {
                return problem(400, "faults: latencyMs, stallMs, failureStatus and retryAfterSeconds are integers, failureRate a number, down a boolean")
            }
            if let message = faults.problem { return problem(400, message) }
            simulator.setFaults(faults, for: vendor)
            return .json(200, faultsJSON(simulator))
        case ("POST", "errors"):
            guard let body = body(request) else { return problem(400, "the body must be a JSON object") }
            let vendor: SimulatedVendor?
            switch self.vendor(body) {
            case .success(let value): vendor = value
            case .failure(let failure): return failure.response
            }
            let code: String
            switch body["code"] {
            case .string(let text)? where !text.isEmpty: code = text
            case let value? where value.intValue != nil: code = String(value.intValue!)
            default: return problem(400, "code is required (a number, or an ASMS code name)")
            }
            var count = 1
            if let value = body["count"], value != .null {
                guard let number = value.intValue, number >= 1 else { return problem(400, "count must be a positive integer") }
                count = number
            }
            let vendors = vendor.map { [$0] } ?? SimulatedVendor.allCases
            for each in vendors {
                if let message = codeProblem(code, for: each) { return problem(400, message) }
            }
            for each in vendors { simulator.queueError(each, code: code, count: count) }
            return done
        case ("POST", "tokens/expire"):
            guard let body = body(request) else { return problem(400, "the body must be a JSON object") }
            switch vendor(body) {
            case .success(let vendor):
                simulator.expireTokens(vendor)
                return done
            case .failure(let failure): return failure.response
            }
        case ("PUT", "urac"), ("POST", "urac"):
            guard let body = body(request) else { return problem(400, "the body must be a JSON object") }
            guard let status = body["errorStatus"]?.intValue, status == 200 || (400...599).contains(status) else {
                return problem(400, "errorStatus must be 200 or an HTTP error status (e.g. 500)")
            }
            simulator.setURACErrorStatus(status)
            return .json(200, .object(["errorStatus": .integer(Int64(status))]))
        case ("GET", "urac"):
            return .json(200, .object(["errorStatus": .integer(Int64(simulator.uracErrorStatus))]))
        case ("POST", "urac/lock"):
            guard let id = body(request)?["uId"]?.stringValue, !id.isEmpty else { return problem(400, "uId is required") }
            simulator.lockURACUser(id)
            return done
        default:
            return problem(404, "no such control: \(request.method) /_sim/\(path.joined(separator: "/"))")
        }
    }

    /// Why a vendor cannot answer `code`, or nil when it can.
    static func codeProblem(_ code: String, for vendor: SimulatedVendor) -> String? {
        switch vendor {
        case .tecs, .urac:
            Int(code) == nil ? "\(vendor.rawValue) error codes are numbers" : nil
        case .servicemobility:
            Int(code).map { (400...599).contains($0) } == true ? nil : "servicemobility error codes are HTTP error statuses (400 to 599)"
        case .asms:
            nil
        }
    }
}
