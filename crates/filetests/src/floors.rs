//! Floors: counts of a corpus run that must not fall (`.ci/floors`).
//!
//! The file holds `name count` lines (`#` comments, blank lines). CI
//! compares a run's [`Summary`] with them ([`check_runtests`]); a count
//! below its floor is a failure naming both numbers, so a change that makes
//! Kiln run fewer files natively fails until the floor is lowered on
//! purpose in the same commit.

use crate::Summary;

/// The floors of `.ci/floors`, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Floors(pub Vec<(String, usize)>);

impl Floors {
    /// Parses the floors file's text; errors name the line.
    pub fn parse(text: &str) -> Result<Floors, String> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(name), Some(n), None) = (words.next(), words.next(), words.next()) else {
                return Err(format!("line {}: expected `name count`: {line}", i + 1));
            };
            let n = n
                .parse()
                .map_err(|e| format!("line {}: bad count `{n}`: {e}", i + 1))?;
            out.push((name.to_string(), n));
        }
        Ok(Floors(out))
    }

    /// The floor called `name`.
    pub fn get(&self, name: &str) -> Option<usize> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, c)| *c)
    }
}

/// Names of the floors of `kiln test --test run --target x86_64` on the
/// runtests corpus.
pub const FILES_PASSED: &str = "runtests_x86_64_files_passed";
pub const TARGETS_PASSED: &str = "runtests_x86_64_targets_passed";

/// Checks a `--test run --target x86_64` run of the runtests corpus
/// against its floors: no failure, and neither count below its floor.
/// Every problem is reported, with the numbers.
pub fn check_runtests(sum: &Summary, floors: &Floors) -> Result<(), Vec<String>> {
    check_runtests_for("x86_64", sum, floors)
}

/// [`check_runtests`] for a `--test run --target <isa>` run: the floors
/// `runtests_<isa>_files_passed` and `runtests_<isa>_targets_passed`
/// (aarch64's count runs under qemu on other hosts).
pub fn check_runtests_for(isa: &str, sum: &Summary, floors: &Floors) -> Result<(), Vec<String>> {
    let mut errs = Vec::new();
    if sum.failed > 0 {
        errs.push(format!("{} files failed", sum.failed));
    }
    let counts = [
        (format!("runtests_{isa}_files_passed"), sum.passed),
        (
            format!("runtests_{isa}_targets_passed"),
            sum.run_target(isa).passed,
        ),
    ];
    for (name, got) in counts {
        let name = name.as_str();
        match floors.get(name) {
            None => errs.push(format!("no floor `{name}` in the floors file")),
            Some(floor) if got < floor => errs.push(format!(
                "{name}: {got} is below the floor {floor} ({} fewer)",
                floor - got
            )),
            Some(_) => {}
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_check() {
        let f = Floors::parse(
            "# c\n\nruntests_x86_64_files_passed 10\nruntests_x86_64_targets_passed 12\n",
        )
        .unwrap();
        assert_eq!(f.get(FILES_PASSED), Some(10));
        assert!(Floors::parse("a b c\n").is_err());
        assert!(Floors::parse("a x\n").is_err());
        let mut sum = Summary {
            passed: 10,
            ..Summary::default()
        };
        sum.run_targets.push((
            "x86_64".into(),
            crate::TargetCounts {
                passed: 12,
                ..Default::default()
            },
        ));
        assert_eq!(check_runtests(&sum, &f), Ok(()));
        sum.passed = 9;
        let e = check_runtests(&sum, &f).unwrap_err();
        assert_eq!(
            e,
            vec!["runtests_x86_64_files_passed: 9 is below the floor 10 (1 fewer)".to_string()]
        );
        sum.failed = 1;
        assert_eq!(check_runtests(&sum, &f).unwrap_err().len(), 2);
        assert!(check_runtests(&sum, &Floors::default()).is_err());
        // The aarch64 floors are separate names with their own counts.
        let a =
            Floors::parse("runtests_aarch64_files_passed 5\nruntests_aarch64_targets_passed 6\n")
                .unwrap();
        let mut sum = Summary {
            passed: 5,
            ..Summary::default()
        };
        sum.run_targets.push((
            "aarch64".into(),
            crate::TargetCounts {
                passed: 6,
                ..Default::default()
            },
        ));
        assert_eq!(check_runtests_for("aarch64", &sum, &a), Ok(()));
        assert!(check_runtests(&sum, &a).is_err());
        sum.run_targets[0].1.passed = 4;
        assert_eq!(
            check_runtests_for("aarch64", &sum, &a).unwrap_err(),
            vec!["runtests_aarch64_targets_passed: 4 is below the floor 6 (2 fewer)".to_string()]
        );
    }
}
