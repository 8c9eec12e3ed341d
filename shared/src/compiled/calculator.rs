//! The basic engine's calculators, resolved from their names once per loaded version.

/// A calculator of a condition's `{calculator, operands}` (NocoBase's `logicCalculate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Calculator {
    Equal,
    NotEqual,
    Gt,
    Gte,
    Lt,
    Lte,
    Includes,
    NotIncludes,
    StartsWith,
    NotStartsWith,
    EndsWith,
    NotEndsWith,
    /// Not a calculator NocoBase has: the job ends in `error` when it is reached, as in
    /// NocoBase (`no calculator function registered for "…"`).
    Unknown(String),
}

impl Calculator {
    /// Names and symbols, as NocoBase registers them.
    pub fn from_name(name: &str) -> Self {
        match name {
            "equal" | "==" => Self::Equal,
            "notEqual" | "!=" => Self::NotEqual,
            "gt" | ">" => Self::Gt,
            "gte" | ">=" => Self::Gte,
            "lt" | "<" => Self::Lt,
            "lte" | "<=" => Self::Lte,
            "includes" => Self::Includes,
            "notIncludes" => Self::NotIncludes,
            "startsWith" => Self::StartsWith,
            "notStartsWith" => Self::NotStartsWith,
            "endsWith" => Self::EndsWith,
            "notEndsWith" => Self::NotEndsWith,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_symbols_resolve_alike() {
        for (name, symbol) in
            [("equal", "=="), ("notEqual", "!="), ("gt", ">"), ("gte", ">="), ("lt", "<"), ("lte", "<=")]
        {
            assert_eq!(Calculator::from_name(name), Calculator::from_name(symbol));
            assert!(!matches!(Calculator::from_name(name), Calculator::Unknown(_)));
        }
        assert_eq!(Calculator::from_name("foo"), Calculator::Unknown("foo".into()));
    }
}
