//! The entity kinds of a function.

use crate::entity;

entity!(
    /// An SSA value: an instruction result or a block parameter.
    Value, "v");
entity!(
    /// An instruction.
    Inst, "inst");
entity!(
    /// A basic block.
    Block, "block");
entity!(
    /// A sized stack slot.
    StackSlot, "ss");
entity!(
    /// A dynamic stack slot.
    DynamicStackSlot, "dss");
entity!(
    /// A dynamic vector type declaration.
    DynamicType, "dt");
entity!(
    /// A global value.
    GlobalValue, "gv");
entity!(
    /// A constant in the function's constant pool.
    Constant, "const");
entity!(
    /// An out-of-line immediate (a `shuffle` mask).
    Immediate, "imm");
entity!(
    /// A jump table (an inline `br_table` list).
    JumpTable, "jt");
entity!(
    /// An exception table (the inline handler list of a `try_call`).
    ExceptionTable, "extable");
entity!(
    /// A signature declared for indirect or external calls.
    SigRef, "sig");
entity!(
    /// An external function declared for calls.
    FuncRef, "fn");
entity!(
    /// A memory alias region.
    AliasRegion, "region");
entity!(
    /// An index into the function's external-name table (`FunctionParameters`).
    UserExternalNameRef, "userextname");
