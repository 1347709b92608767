//! Overlap checking and decision-tree construction for one term's rules.

use super::error::Error;
use super::sema::{BindId, Binding, Program, RuleIr, Step, TermBody, TermId, TypeKind};

/// A node of a term's decision tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// Perform a step (extractor call, constructor call or equality test);
    /// if it succeeds, run `body`.
    Step(Step, Vec<Node>),
    /// Branch on the enum variant or integer value of `src`, testing it once.
    Switch {
        src: BindId,
        arms: Vec<(i128, Vec<Node>)>,
        exhaustive: bool,
    },
    /// Rule `rule` fired: return `result`.
    Leaf { rule: usize, result: BindId },
}

/// A constraint on one binding: (binding, kind, value). Kind 0 is a value
/// test (enum variant index or integer; a binding never has both), kind 1 an
/// extern constant (by index).
type Constraint = (BindId, u8, i128);

/// The constraints of a rule that can prove disjointness, sorted.
fn constraints(r: &RuleIr) -> Vec<Constraint> {
    let mut v: Vec<Constraint> = r
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Variant { src, variant } => Some((*src, 0, *variant as i128)),
            Step::Int { src, value } => Some((*src, 0, *value)),
            Step::ConstEq { src, konst } => Some((*src, 1, *konst as i128)),
            _ => None,
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Whether two rules' constraints force different values at one binding:
/// both rules require the binding to equal something of the same kind, and
/// the two values differ.
fn disjoint(a: &[Constraint], b: &[Constraint]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (sa, sb) = (a[i].0, b[j].0);
        if sa < sb {
            i += 1;
        } else if sb < sa {
            j += 1;
        } else {
            let ea = a[i..].iter().take_while(|c| c.0 == sa).count();
            let eb = b[j..].iter().take_while(|c| c.0 == sa).count();
            let clash = a[i..i + ea]
                .iter()
                .any(|x| b[j..j + eb].iter().any(|y| x.1 == y.1 && x.2 != y.2));
            if clash {
                return true;
            }
            i += ea;
            j += eb;
        }
    }
    false
}

/// Reports every pair of rules with equal priority that are not provably
/// disjoint.
pub fn check_overlaps(p: &Program, term: TermId, body: &TermBody, errors: &mut Vec<Error>) {
    let mut by_prio: Vec<usize> = (0..body.rules.len()).collect();
    by_prio.sort_by_key(|&r| (body.rules[r].prio, r));
    let cons: Vec<Vec<Constraint>> = body.rules.iter().map(constraints).collect();
    let mut start = 0;
    while start < by_prio.len() {
        let prio = body.rules[by_prio[start]].prio;
        let end = start
            + by_prio[start..]
                .iter()
                .take_while(|&&r| body.rules[r].prio == prio)
                .count();
        let group = &by_prio[start..end];
        for (gi, &a) in group.iter().enumerate() {
            for &b in &group[gi + 1..] {
                if !disjoint(&cons[a], &cons[b]) {
                    errors.push(
                        Error::new(
                            body.rules[b].pos,
                            format!(
                                "rules for term `{}` overlap: both have priority {} and can match the same input",
                                p.terms[term].name, prio
                            ),
                        )
                        .with_note(body.rules[a].pos, "the other rule is here"),
                    );
                }
            }
        }
        start = end;
    }
}

/// Reports rules that appear in no leaf of the tree: every input that
/// reaches them has already been handled by a rule that always returns.
pub fn check_reachable(body: &TermBody, tree: &[Node], errors: &mut Vec<Error>) {
    fn walk(n: &Node, seen: &mut [bool]) {
        match n {
            Node::Leaf { rule, .. } => {
                if let Some(s) = seen.get_mut(*rule) {
                    *s = true;
                }
            }
            Node::Step(_, body) => body.iter().for_each(|n| walk(n, seen)),
            Node::Switch { arms, .. } => arms.iter().flat_map(|a| &a.1).for_each(|n| walk(n, seen)),
        }
    }
    let mut seen = vec![false; body.rules.len()];
    tree.iter().for_each(|n| walk(n, &mut seen));
    for (r, s) in body.rules.iter().zip(seen) {
        if !s {
            errors.push(Error::new(
                r.pos,
                "rule can never fire: rules tried before it always apply to every input it matches",
            ));
        }
    }
}

/// Builds the decision tree of a term: rules are tried by decreasing
/// priority; tests at the same binding are grouped into one switch.
pub fn build(p: &Program, body: &TermBody) -> Vec<Node> {
    let mut order: Vec<usize> = (0..body.rules.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (&body.rules[a], &body.rules[b]);
        rb.prio
            .cmp(&ra.prio)
            .then_with(|| ra.steps.cmp(&rb.steps))
            .then(a.cmp(&b))
    });
    let items: Vec<(usize, usize)> = order.into_iter().map(|r| (r, 0)).collect();
    let cons = body.rules.iter().map(constraints).collect();
    Builder { p, body, cons }.block(&items)
}

/// Whether a step always succeeds once reached.
pub fn step_infallible(p: &Program, body: &TermBody, s: &Step) -> bool {
    match s {
        Step::Eval(b) => match body.binds.get(*b) {
            Some(Binding::Call { term, .. }) => !p.terms[*term].ctor_fallible(),
            _ => true,
        },
        Step::Extract { term, .. } => p.terms[*term]
            .extractor
            .as_ref()
            .is_some_and(|e| !e.fallible),
        _ => false,
    }
}

struct Builder<'a> {
    p: &'a Program,
    body: &'a TermBody,
    cons: Vec<Vec<Constraint>>,
}

fn switch_key(s: &Step) -> Option<(BindId, i128)> {
    match s {
        Step::Variant { src, variant } => Some((*src, *variant as i128)),
        Step::Int { src, value } => Some((*src, *value)),
        _ => None,
    }
}

impl Builder<'_> {
    fn step(&self, item: (usize, usize)) -> Option<&Step> {
        self.body
            .rules
            .get(item.0)
            .and_then(|r| r.steps.get(item.1))
    }

    fn infallible(&self, s: &Step) -> bool {
        step_infallible(self.p, self.body, s)
    }

    fn always_returns(&self, n: &Node) -> bool {
        match n {
            Node::Leaf { .. } => true,
            Node::Step(s, body) => {
                self.infallible(s) && body.last().is_some_and(|n| self.always_returns(n))
            }
            Node::Switch {
                arms, exhaustive, ..
            } => {
                *exhaustive
                    && arms
                        .iter()
                        .all(|(_, b)| b.last().is_some_and(|n| self.always_returns(n)))
            }
        }
    }

    fn arm_count(&self, src: BindId) -> Option<usize> {
        let ty = &self.p.types[*self.body.bind_types.get(src)?];
        match &ty.kind {
            TypeKind::Enum(vs) => Some(vs.len()),
            _ if ty.rust == "bool" => Some(2),
            _ => None,
        }
    }

    /// Whether rules `a` and `b` can never both match (equal priorities
    /// imply it, since the overlap check passed).
    fn disjoint(&self, a: usize, b: usize) -> bool {
        self.body.rules[a].prio == self.body.rules[b].prio || disjoint(&self.cons[a], &self.cons[b])
    }

    /// Builds the nodes for `items` (rule, next step index), which are in
    /// the order they must be tried. Each round takes the first item's next
    /// test and gathers every later item with the same test (or a test of
    /// the same binding, for switches) that may be hoisted: an item moves
    /// ahead of the items it skips only if it is disjoint from all of them.
    fn block(&self, items: &[(usize, usize)]) -> Vec<Node> {
        let mut items: Vec<(usize, usize)> = items.to_vec();
        let mut out = Vec::new();
        while let Some(&first) = items.first() {
            let Some(step) = self.step(first) else {
                items.remove(0);
                continue;
            };
            if let Step::Rhs(result) = step {
                out.push(Node::Leaf {
                    rule: first.0,
                    result: *result,
                });
                break; // a leaf always returns: the rest is unreachable here
            }
            let switch_src = switch_key(step).map(|k| k.0);
            let same = |it: (usize, usize)| match (switch_src, self.step(it)) {
                (Some(src), Some(s)) => switch_key(s).is_some_and(|k| k.0 == src),
                (None, Some(s)) => s == step,
                _ => false,
            };
            let mut taken = vec![first];
            let mut skipped: Vec<(usize, usize)> = Vec::new();
            for &it in &items[1..] {
                let hoistable = skipped.len() <= MAX_HOIST_CHECKS
                    && skipped.iter().all(|s| self.disjoint(s.0, it.0));
                if same(it) && hoistable {
                    taken.push(it);
                } else {
                    skipped.push(it);
                }
            }
            let node = match switch_src {
                Some(src) => {
                    let mut keys: Vec<i128> = Vec::new();
                    let mut groups: Vec<Vec<(usize, usize)>> = Vec::new();
                    for &(r, k) in &taken {
                        let Some((_, key)) = self.step((r, k)).and_then(switch_key) else {
                            continue;
                        };
                        match keys.iter().position(|&x| x == key) {
                            Some(g) => groups[g].push((r, k + 1)),
                            None => {
                                keys.push(key);
                                groups.push(vec![(r, k + 1)]);
                            }
                        }
                    }
                    let mut arms: Vec<(i128, Vec<Node>)> = keys
                        .into_iter()
                        .zip(groups)
                        .map(|(k, g)| (k, self.block(&g)))
                        .collect();
                    arms.sort_by_key(|a| a.0);
                    let exhaustive = self.arm_count(src) == Some(arms.len());
                    Node::Switch {
                        src,
                        arms,
                        exhaustive,
                    }
                }
                None => {
                    let sub: Vec<(usize, usize)> = taken.iter().map(|&(r, k)| (r, k + 1)).collect();
                    Node::Step(step.clone(), self.block(&sub))
                }
            };
            let stop = self.always_returns(&node);
            out.push(node);
            if stop {
                break;
            }
            items = skipped;
        }
        out
    }
}

/// Bound on the disjointness checks made to hoist one item (keeps the
/// builder near-linear on large rule sets; beyond it, items keep their order).
const MAX_HOIST_CHECKS: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disjointness() {
        assert!(disjoint(&[(1, 0, 0), (2, 0, 5)], &[(2, 0, 6)]));
        assert!(!disjoint(&[(1, 0, 0)], &[(2, 0, 6)]));
        assert!(!disjoint(&[(1, 0, 0), (2, 0, 5)], &[(1, 0, 0), (2, 0, 5)]));
        assert!(!disjoint(&[], &[(1, 0, 1)]));
        // An impossible rule (v == 1 and v == 2) is disjoint from anything on v.
        assert!(disjoint(&[(1, 0, 1)], &[(1, 0, 1), (1, 0, 2)]));
        // Extern constants versus integers: unknown, so not disjoint.
        assert!(!disjoint(&[(1, 1, 0)], &[(1, 0, 0)]));
        assert!(disjoint(&[(1, 1, 0)], &[(1, 1, 3)]));
    }
}
