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

/// The constraints of a rule that can prove disjointness: `(binding, key)`
/// pairs, sorted, where the key is a variant index or an integer value.
fn constraints(r: &RuleIr) -> Vec<(BindId, i128)> {
    let mut v: Vec<(BindId, i128)> = r
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Variant { src, variant } => Some((*src, *variant as i128)),
            Step::Int { src, value } => Some((*src, *value)),
            _ => None,
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Whether two rules' constraints force different values at one binding.
fn disjoint(a: &[(BindId, i128)], b: &[(BindId, i128)]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (sa, sb) = (a[i].0, b[j].0);
        if sa < sb {
            i += 1;
        } else if sb < sa {
            j += 1;
        } else {
            // Same binding: disjoint unless some key is shared by both.
            let ea = a[i..].iter().take_while(|c| c.0 == sa).count();
            let eb = b[j..].iter().take_while(|c| c.0 == sa).count();
            let shared = a[i..i + ea].iter().any(|x| b[j..j + eb].contains(x));
            if !shared {
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
    let cons: Vec<Vec<(BindId, i128)>> = body.rules.iter().map(constraints).collect();
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
    Builder { p, body }.block(&items)
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

    fn block(&self, items: &[(usize, usize)]) -> Vec<Node> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < items.len() {
            let Some(step) = self.step(items[i]) else {
                i += 1;
                continue;
            };
            let node = if let Step::Rhs(result) = step {
                i += 1;
                Node::Leaf {
                    rule: items[i - 1].0,
                    result: *result,
                }
            } else if let Some((src, _)) = switch_key(step) {
                let mut keys: Vec<i128> = Vec::new();
                let mut groups: Vec<Vec<(usize, usize)>> = Vec::new();
                while let Some((s, key)) = self
                    .step(items.get(i).copied().unwrap_or((usize::MAX, 0)))
                    .and_then(switch_key)
                {
                    if s != src {
                        break;
                    }
                    let (r, k) = items[i];
                    match keys.iter().position(|&x| x == key) {
                        Some(g) => groups[g].push((r, k + 1)),
                        None => {
                            keys.push(key);
                            groups.push(vec![(r, k + 1)]);
                        }
                    }
                    i += 1;
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
            } else {
                let step = step.clone();
                let mut sub = Vec::new();
                while i < items.len() && self.step(items[i]) == Some(&step) {
                    sub.push((items[i].0, items[i].1 + 1));
                    i += 1;
                }
                Node::Step(step, self.block(&sub))
            };
            let stop = self.always_returns(&node);
            out.push(node);
            if stop {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disjointness() {
        assert!(disjoint(&[(1, 0), (2, 5)], &[(2, 6)]));
        assert!(!disjoint(&[(1, 0)], &[(2, 6)]));
        assert!(!disjoint(&[(1, 0), (2, 5)], &[(1, 0), (2, 5)]));
        assert!(!disjoint(&[], &[(1, 1)]));
    }
}
