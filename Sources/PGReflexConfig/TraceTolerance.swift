import Foundation
import Yams

/// How a field of the expected side may differ and still verify: ignored (a decision's
/// `summary`), a number within a distance or a range (`usage.total_tokens`), or a list compared
/// as a set. `path` is dot-separated; `*` matches any one name or index
/// (`routes.*.calls.*.decision.summary`).
public struct TraceTolerance: Sendable, Equatable {
    public enum Rule: Sendable, Equatable {
        case ignore
        /// |actual − expected| ≤ distance.
        case within(Double)
        /// lower ≤ actual ≤ upper, whatever was recorded.
        case range(Double, Double)
        /// The list's items in any order.
        case unordered
    }

    public var path: [String]
    public var rule: Rule

    /// Why a tolerance is not one.
    public struct Invalid: Error, Sendable {
        public var message: String
    }

    public init(path: String, rule: Rule) {
        self.path = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        self.rule = rule
    }

    /// From a trace header's or the configuration's `{path, ignore | within | range | unordered}`.
    public init(json: Any) throws(TraceTolerance.Invalid) {
        guard let object = json as? [String: Any], let path = object["path"] as? String, !path.isEmpty else {
            throw Invalid(message: "each tolerance needs a path (e.g. routes.*.calls.*.decision.summary)")
        }
        let rules = ["ignore", "within", "range", "unordered"].filter { object[$0] != nil }
        guard rules.count == 1 else {
            throw Invalid(message: "tolerance \(path): give exactly one of ignore: true, within: N, range: [low, high], unordered: true")
        }
        switch rules[0] {
        case "ignore" where (object["ignore"] as? Bool) == true: self.init(path: path, rule: .ignore)
        case "unordered" where (object["unordered"] as? Bool) == true: self.init(path: path, rule: .unordered)
        case "within":
            guard let distance = (object["within"] as? NSNumber)?.doubleValue, distance.isFinite, distance >= 0 else {
                throw Invalid(message: "tolerance \(path): within must be a number ≥ 0")
            }
            self.init(path: path, rule: .within(distance))
        case "range":
            guard let bounds = object["range"] as? [NSNumber], bounds.count == 2, bounds[0].doubleValue <= bounds[1].doubleValue,
                  bounds.allSatisfy({ $0.doubleValue.isFinite }) else {
                throw Invalid(message: "tolerance \(path): range must be [low, high] with low ≤ high")
            }
            self.init(path: path, rule: .range(bounds[0].doubleValue, bounds[1].doubleValue))
        default:
            throw Invalid(message: "tolerance \(path): ignore and unordered take true")
        }
    }

    public var json: [String: Any] {
        let text = path.joined(separator: ".")
        switch rule {
        case .ignore: return ["path": text, "ignore": true]
        case .within(let distance): return ["path": text, "within": distance]
        case .range(let low, let high): return ["path": text, "range": [low, high]]
        case .unordered: return ["path": text, "unordered": true]
        }
    }

    public func matches(_ components: [String]) -> Bool {
        components.count == path.count && zip(path, components).allSatisfy { $0 == "*" || $0 == $1 }
    }
}

/// `traces: { tolerances: [...] }`: tolerances every trace of this configuration gets, beside
/// its file's own.
extension RunConfiguration.Reader {
    func traceTolerances(_ node: Node) throws -> [TraceTolerance] {
        let section = try mapping(node, "traces", keys: ["tolerances"])
        guard let list = section["tolerances"] else { return [] }
        guard case .sequence(let items) = list else { throw fail(list, "traces.tolerances must be a list of {path, ignore | within | range | unordered}") }
        return try items.map { item in
            let entry = try mapping(item, "traces.tolerances[]", keys: ["path", "ignore", "within", "range", "unordered"])
            var object: [String: Any] = [:]
            for (key, value) in entry {
                switch value {
                case .sequence(let bounds): object[key] = bounds.map { $0.float.map { NSNumber(value: $0) } ?? NSNumber(value: Double.nan) }
                default:
                    if key == "path" { object[key] = try string(value, "traces.tolerances[].path") }
                    else if let flag = value.bool { object[key] = flag }
                    else if let number = value.float { object[key] = NSNumber(value: number) }
                    else { object[key] = value.string ?? "" }
                }
            }
            do throws(TraceTolerance.Invalid) {
                return try TraceTolerance(json: object)
            } catch {
                throw fail(item, "traces.tolerances: \(error.message)")
            }
        }
    }
}
