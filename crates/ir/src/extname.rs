//! Function names and external names.

use std::fmt;

/// A user-defined external name: `u<namespace>:<index>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct UserExternalName {
    pub namespace: u32,
    pub index: u32,
}

impl UserExternalName {
    pub const fn new(namespace: u32, index: u32) -> Self {
        Self { namespace, index }
    }
}

impl fmt::Display for UserExternalName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "u{}:{}", self.namespace, self.index)
    }
}

/// A test-case name: `%name`. At most 255 bytes (same as Cranelift).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct TestcaseName(Box<str>);

impl TestcaseName {
    pub fn new(name: impl Into<Box<str>>) -> Self {
        TestcaseName(name.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TestcaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// The name of a function: a user name or a test-case name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum UserFuncName {
    User(UserExternalName),
    Testcase(TestcaseName),
}

impl UserFuncName {
    pub fn user(namespace: u32, index: u32) -> Self {
        UserFuncName::User(UserExternalName::new(namespace, index))
    }
    pub fn testcase(name: impl Into<Box<str>>) -> Self {
        UserFuncName::Testcase(TestcaseName::new(name))
    }
}

impl Default for UserFuncName {
    fn default() -> Self {
        UserFuncName::User(UserExternalName::default())
    }
}

impl fmt::Display for UserFuncName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserFuncName::User(u) => u.fmt(f),
            UserFuncName::Testcase(t) => t.fmt(f),
        }
    }
}
