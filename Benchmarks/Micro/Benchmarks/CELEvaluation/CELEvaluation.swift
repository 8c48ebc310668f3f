import Benchmark
import PGReflexRouter

/// What one route condition costs per event, against the same test written in Swift by hand
/// (the reference: what a compiled predicate would cost). Activations are built once: this
/// measures evaluation, not reading the envelope.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(2), maxIterations: .count(1_000_000))
    let after: CELValue = .map(["total_amount": .string("612.50"), "is_first_order": .bool(false), "status": .string("paid"),
                                "quantity_on_hand": .int(3), "reorder_point": .int(5),
                                "s": .string(String(repeating: "a", count: 30) + "!")])
    let activation: CELActivation = ["after": after, "op": .string("u")]
    let cases: [(String, String)] = [
        ("int comparison", "after.quantity_on_hand < after.reorder_point"),
        ("numeric string > 500", "after.total_amount > 500"),
        ("fraud rule", "after.total_amount > 500 || after.is_first_order"),
        ("op in list", "op in ['c', 'u']"),
        ("matches, RE2", "after.status.matches('^pa.d$')"),
        // Catastrophic for a backtracking engine (over 10 s before RE2); linear here.
        ("matches (a+)+$ on 30 a's and !", "after.s.matches('(a+)+$')"),
    ]
    for (name, text) in cases {
        let expression = try! CELExpression(text)
        Benchmark("CEL: \(name)", configuration: .init(scalingFactor: .kilo)) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try? expression.holds(activation))
            }
        }
    }
    // The reference: the int comparison, by hand, through the same values.
    Benchmark("reference: int comparison in Swift", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            guard case .map(let map) = activation["after"], case .int(let q) = map["quantity_on_hand"],
                  case .int(let r) = map["reorder_point"] else { continue }
            blackHole(q < r)
        }
    }
}
