//! Integer and float condition codes.

use std::fmt;

macro_rules! cond_codes {
    ($(#[$attr:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$attr])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub enum $name { $($variant),* }

        impl $name {
            /// Every condition code, in encoding order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

cond_codes!(
    /// Integer comparison conditions.
    IntCC {
        Equal = "eq",
        NotEqual = "ne",
        SignedLessThan = "slt",
        SignedGreaterThanOrEqual = "sge",
        SignedGreaterThan = "sgt",
        SignedLessThanOrEqual = "sle",
        UnsignedLessThan = "ult",
        UnsignedGreaterThanOrEqual = "uge",
        UnsignedGreaterThan = "ugt",
        UnsignedLessThanOrEqual = "ule",
    }
);

cond_codes!(
    /// Float comparison conditions (ordered and unordered).
    FloatCC {
        Ordered = "ord",
        Unordered = "uno",
        Equal = "eq",
        NotEqual = "ne",
        OrderedNotEqual = "one",
        UnorderedOrEqual = "ueq",
        LessThan = "lt",
        LessThanOrEqual = "le",
        GreaterThan = "gt",
        GreaterThanOrEqual = "ge",
        UnorderedOrLessThan = "ult",
        UnorderedOrLessThanOrEqual = "ule",
        UnorderedOrGreaterThan = "ugt",
        UnorderedOrGreaterThanOrEqual = "uge",
    }
);

impl IntCC {
    /// The condition that holds exactly when this one does not.
    pub fn complement(self) -> IntCC {
        use IntCC::*;
        match self {
            Equal => NotEqual,
            NotEqual => Equal,
            SignedLessThan => SignedGreaterThanOrEqual,
            SignedGreaterThanOrEqual => SignedLessThan,
            SignedGreaterThan => SignedLessThanOrEqual,
            SignedLessThanOrEqual => SignedGreaterThan,
            UnsignedLessThan => UnsignedGreaterThanOrEqual,
            UnsignedGreaterThanOrEqual => UnsignedLessThan,
            UnsignedGreaterThan => UnsignedLessThanOrEqual,
            UnsignedLessThanOrEqual => UnsignedGreaterThan,
        }
    }

    /// The condition with operands swapped (`a < b` <=> `b > a`).
    pub fn swap_args(self) -> IntCC {
        use IntCC::*;
        match self {
            Equal | NotEqual => self,
            SignedLessThan => SignedGreaterThan,
            SignedGreaterThan => SignedLessThan,
            SignedGreaterThanOrEqual => SignedLessThanOrEqual,
            SignedLessThanOrEqual => SignedGreaterThanOrEqual,
            UnsignedLessThan => UnsignedGreaterThan,
            UnsignedGreaterThan => UnsignedLessThan,
            UnsignedGreaterThanOrEqual => UnsignedLessThanOrEqual,
            UnsignedLessThanOrEqual => UnsignedGreaterThanOrEqual,
        }
    }

    pub fn is_signed(self) -> bool {
        use IntCC::*;
        matches!(
            self,
            SignedLessThan | SignedGreaterThanOrEqual | SignedGreaterThan | SignedLessThanOrEqual
        )
    }
}

impl FloatCC {
    /// The condition that holds exactly when this one does not (NaN included).
    pub fn complement(self) -> FloatCC {
        use FloatCC::*;
        match self {
            Ordered => Unordered,
            Unordered => Ordered,
            Equal => NotEqual,
            NotEqual => Equal,
            OrderedNotEqual => UnorderedOrEqual,
            UnorderedOrEqual => OrderedNotEqual,
            LessThan => UnorderedOrGreaterThanOrEqual,
            LessThanOrEqual => UnorderedOrGreaterThan,
            GreaterThan => UnorderedOrLessThanOrEqual,
            GreaterThanOrEqual => UnorderedOrLessThan,
            UnorderedOrLessThan => GreaterThanOrEqual,
            UnorderedOrLessThanOrEqual => GreaterThan,
            UnorderedOrGreaterThan => LessThanOrEqual,
            UnorderedOrGreaterThanOrEqual => LessThan,
        }
    }

    /// The condition with operands swapped.
    pub fn swap_args(self) -> FloatCC {
        use FloatCC::*;
        match self {
            LessThan => GreaterThan,
            LessThanOrEqual => GreaterThanOrEqual,
            GreaterThan => LessThan,
            GreaterThanOrEqual => LessThanOrEqual,
            UnorderedOrLessThan => UnorderedOrGreaterThan,
            UnorderedOrLessThanOrEqual => UnorderedOrGreaterThanOrEqual,
            UnorderedOrGreaterThan => UnorderedOrLessThan,
            UnorderedOrGreaterThanOrEqual => UnorderedOrLessThanOrEqual,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_print_complement() {
        for &cc in IntCC::ALL {
            assert_eq!(IntCC::parse(cc.as_str()), Some(cc));
            assert_eq!(cc.complement().complement(), cc);
            assert_eq!(cc.swap_args().swap_args(), cc);
        }
        for &cc in FloatCC::ALL {
            assert_eq!(FloatCC::parse(cc.as_str()), Some(cc));
            assert_eq!(cc.complement().complement(), cc);
            assert_eq!(cc.swap_args().swap_args(), cc);
        }
        assert_eq!(IntCC::ALL.len(), 10);
        assert_eq!(FloatCC::ALL.len(), 14);
    }
}
