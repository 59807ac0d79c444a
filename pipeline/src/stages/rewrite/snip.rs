//! `--snip`: replace the bodies of functions that can only end in a trap with
//! a bare `unreachable`, so that what only they used (panic message
//! formatting, `Debug` impls, location strings) is garbage-collected.
//!
//! Under `panic = "abort"` a panic always ends in `unreachable`; the code on
//! the way there only formats a message and calls the panic hook. A function
//! *diverges* when every way out of it passes through a trap: its top-level
//! instruction sequence reaches an `unreachable` or a call to a diverging
//! function, and nothing in it can leave early (`return`, a tail call, a
//! branch to the function's own block, exception handling). Diverging
//! functions are found as a fixed point over the call graph; replacing their
//! bodies changes nothing for calls that do not trap, and for calls that do,
//! only what happened before the trap (the panic message) is lost.
//!
//! A call to a wasm-bindgen import that throws a JS exception (`…throw…`) is
//! treated as a way out: that exception is catchable by JS, a trap is not. So
//! is a call to a function that may throw a Wasm exception (one that holds a
//! `throw`, or calls such a function or import): C's `longjmp` on Wasm
//! exception handling is a call that never returns, but leaves by a throw
//! that a `setjmp` up the stack catches, not by a trap.
//!
//! Then every call to a diverging function becomes the trap itself, and the
//! side-effect-free code that only computed its arguments goes ([`TrapEarly`]),
//! so the panic sites inside functions that do return lose their message and
//! `Location` too.

use std::collections::HashSet;

use walrus::ir::{Instr, InstrLocId, InstrSeqId, Visitor};
use walrus::{FunctionId, FunctionKind, Module};

/// Replaces every diverging function's body with `unreachable`; returns the
/// functions changed.
pub fn run(module: &mut Module) -> Vec<FunctionId> {
    let mut throwing: HashSet<FunctionId> = module
        .imports
        .iter()
        .filter_map(|import| match import.kind {
            walrus::ImportKind::Function(f) if import.name.contains("throw") => Some(f),
            _ => None,
        })
        .collect();
    loop {
        let found: Vec<FunctionId> = module
            .funcs
            .iter_local()
            .filter(|(id, _)| !throwing.contains(id))
            .filter(|(_, f)| {
                let mut throws = Throws { throwing: &throwing, found: false };
                walrus::ir::dfs_in_order(&mut throws, f, f.entry_block());
                throws.found
            })
            .map(|(id, _)| id)
            .collect();
        if found.is_empty() {
            break;
        }
        throwing.extend(found);
    }

    let mut diverging: HashSet<FunctionId> = HashSet::new();
    loop {
        let found: Vec<FunctionId> = module
            .funcs
            .iter_local()
            .filter(|(id, _)| !diverging.contains(id))
            .filter(|(_, f)| diverges(f, &diverging, &throwing))
            .map(|(id, _)| id)
            .collect();
        if found.is_empty() {
            break;
        }
        diverging.extend(found);
    }

    let mut snipped: Vec<FunctionId> =
        diverging.iter().copied().filter(|&id| !is_unreachable_only(module, id)).collect();
    snipped.sort();
    for &id in &snipped {
        if let FunctionKind::Local(f) = &mut module.funcs.get_mut(id).kind {
            let entry = f.entry_block();
            let body = &mut f.block_mut(entry).instrs;
            body.clear();
            body.push((Instr::Unreachable(walrus::ir::Unreachable {}), InstrLocId::default()));
        }
    }
    // A call to a diverging function is a trap: make the call site the trap,
    // and drop what only computed the call's arguments (the panic's message
    // and `Location`). Binaryen would only get there by inlining, which this
    // pipeline turns off. The functions are garbage once nothing calls them,
    // and so is the data only their callers pointed to (see `data_gc`).
    for (_, f) in module.funcs.iter_local_mut() {
        let entry = f.entry_block();
        walrus::ir::dfs_pre_order_mut(&mut TrapEarly { diverging: &diverging }, f, entry);
    }
    snipped
}

fn diverges(f: &walrus::LocalFunction, diverging: &HashSet<FunctionId>, throwing: &HashSet<FunctionId>) -> bool {
    let reaches_trap = f.block(f.entry_block()).instrs.iter().any(|(instr, _)| match instr {
        Instr::Unreachable(_) => true,
        Instr::Call(call) => diverging.contains(&call.func),
        _ => false,
    });
    if !reaches_trap {
        return false;
    }
    let mut exits = EarlyExits { entry: f.entry_block(), throwing, found: false };
    walrus::ir::dfs_in_order(&mut exits, f, f.entry_block());
    !exits.found
}

/// Whether a function body is already just `unreachable`.
fn is_unreachable_only(module: &Module, id: FunctionId) -> bool {
    match &module.funcs.get(id).kind {
        FunctionKind::Local(f) => {
            matches!(f.block(f.entry_block()).instrs.as_slice(), [(Instr::Unreachable(_), _)])
        }
        _ => false,
    }
}

/// Finds any way to leave a function other than falling off its end.
struct EarlyExits<'a> {
    entry: InstrSeqId,
    /// Functions and imports that may throw.
    throwing: &'a HashSet<FunctionId>,
    found: bool,
}

/// Finds a `throw`, or a call to a function or import that may throw.
struct Throws<'a> {
    throwing: &'a HashSet<FunctionId>,
    found: bool,
}

impl<'instr> Visitor<'instr> for Throws<'_> {
    fn visit_instr(&mut self, instr: &'instr Instr, _: &'instr InstrLocId) {
        self.found |= match instr {
            Instr::Throw(_) | Instr::ThrowRef(_) | Instr::Rethrow(_) => true,
            Instr::Call(call) => self.throwing.contains(&call.func),
            _ => false,
        };
    }
}

impl<'instr> Visitor<'instr> for EarlyExits<'_> {
    fn visit_instr(&mut self, instr: &'instr Instr, _: &'instr InstrLocId) {
        let entry = self.entry;
        self.found |= match instr {
            Instr::Return(_)
            | Instr::ReturnCall(_)
            | Instr::ReturnCallIndirect(_)
            | Instr::ReturnCallRef(_)
            | Instr::Try(_)
            | Instr::TryTable(_)
            | Instr::Throw(_)
            | Instr::ThrowRef(_)
            | Instr::Rethrow(_) => true,
            Instr::Call(call) => self.throwing.contains(&call.func),
            Instr::Br(br) => br.block == entry,
            Instr::BrIf(br) => br.block == entry,
            Instr::BrTable(table) => table.default == entry || table.blocks.contains(&entry),
            Instr::BrOnNull(br) => br.block == entry,
            Instr::BrOnNonNull(br) => br.block == entry,
            Instr::BrOnCast(br) => br.block == entry,
            Instr::BrOnCastFail(br) => br.block == entry,
            _ => false,
        };
    }
}

/// In each instruction sequence: calls to diverging functions become
/// `unreachable`, and the side-effect-free instructions just before an
/// `unreachable` are removed.
///
/// Removing them cannot change what a caller sees: the sequence traps
/// either way (an instruction that could trap itself, such as a load, only
/// traps sooner), and a trap leaves no way to read the locals it wrote.
/// Instructions with effects outside the function (calls, stores, global
/// writes) stay. Whatever they left on the stack is discarded by
/// `unreachable`, so the sequence still validates.
struct TrapEarly<'a> {
    diverging: &'a HashSet<FunctionId>,
}

impl walrus::ir::VisitorMut for TrapEarly<'_> {
    fn start_instr_seq_mut(&mut self, seq: &mut walrus::ir::InstrSeq) {
        for (instr, _) in &mut seq.instrs {
            if let Instr::Call(walrus::ir::Call { func }) | Instr::ReturnCall(walrus::ir::ReturnCall { func }) = instr
                && self.diverging.contains(func)
            {
                *instr = Instr::Unreachable(walrus::ir::Unreachable {});
            }
        }
        let mut i = 0;
        while i < seq.instrs.len() {
            if matches!(seq.instrs[i].0, Instr::Unreachable(_)) {
                let first = seq.instrs[..i].iter().rposition(|(instr, _)| !is_pure(instr)).map_or(0, |p| p + 1);
                seq.instrs.drain(first..i);
                i = first;
            }
            i += 1;
        }
    }
}

/// No effect outside the function but, possibly, a trap.
fn is_pure(instr: &Instr) -> bool {
    matches!(
        instr,
        Instr::Const(_)
            | Instr::LocalGet(_)
            | Instr::LocalSet(_)
            | Instr::LocalTee(_)
            | Instr::GlobalGet(_)
            | Instr::Binop(_)
            | Instr::Unop(_)
            | Instr::Select(_)
            | Instr::Drop(_)
            | Instr::Load(_)
            | Instr::RefNull(_)
            | Instr::RefFunc(_)
            | Instr::RefIsNull(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use walrus::{FunctionBuilder, ModuleConfig, ValType};

    /// A module shaped like a Rust program under `panic = "abort"`:
    /// `checked_div(a, b)` returns `a / b`, or calls `fail` when `b == 0`;
    /// `fail` formats a message (calls `format` and the `log` import) and
    /// calls `abort`, which traps.
    fn sample() -> (Module, [FunctionId; 4]) {
        let mut m = Module::with_config(ModuleConfig::new());
        let log_ty = m.types.add(&[ValType::I32], &[]);
        let (log, _) = m.add_import_func("env", "log", log_ty);

        let mut b = FunctionBuilder::new(&mut m.types, &[], &[]);
        b.func_body().unreachable();
        let abort = b.finish(vec![], &mut m.funcs);

        let mut b = FunctionBuilder::new(&mut m.types, &[ValType::I32], &[ValType::I32]);
        let x = m.locals.add(ValType::I32);
        b.func_body().local_get(x).i32_const(31).binop(walrus::ir::BinaryOp::I32Mul);
        let format = b.finish(vec![x], &mut m.funcs);

        let mut b = FunctionBuilder::new(&mut m.types, &[], &[]);
        b.func_body().i32_const(7).call(format).call(log).call(abort).unreachable();
        let fail = b.finish(vec![], &mut m.funcs);

        let mut b = FunctionBuilder::new(&mut m.types, &[ValType::I32, ValType::I32], &[ValType::I32]);
        let (a, d) = (m.locals.add(ValType::I32), m.locals.add(ValType::I32));
        b.func_body()
            .local_get(d)
            .unop(walrus::ir::UnaryOp::I32Eqz)
            .if_else(
                None,
                |then| {
                    then.call(fail);
                },
                |_| {},
            )
            .local_get(a)
            .local_get(d)
            .binop(walrus::ir::BinaryOp::I32DivU);
        let checked_div = b.finish(vec![a, d], &mut m.funcs);
        m.exports.add("checked_div", checked_div);
        (m, [abort, format, fail, checked_div])
    }

    #[test]
    fn snips_only_the_panic_path_and_gc_drops_what_it_used() {
        let (mut m, [abort, format, fail, checked_div]) = sample();
        let snipped = run(&mut m);
        assert_eq!(snipped, vec![fail], "`abort` is already unreachable; `checked_div` returns");
        walrus::passes::gc::run(&mut m);
        assert!(m.funcs.iter().all(|f| f.id() != format), "`format` was only used by the panic path");
        assert!(
            m.funcs.iter().all(|f| f.id() != fail && f.id() != abort),
            "calls to diverging functions became traps, so nothing calls them"
        );
        assert!(m.imports.iter().all(|i| i.name != "log"), "the logging import went with it");
        assert!(m.funcs.iter().any(|f| f.id() == checked_div));
    }

    #[test]
    fn a_call_that_panics_becomes_the_trap_and_its_arguments_go() {
        let mut m = Module::with_config(ModuleConfig::new());
        let ty = m.types.add(&[], &[]);
        let (log, _) = m.add_import_func("env", "log", ty);
        let mut b = FunctionBuilder::new(&mut m.types, &[ValType::I32, ValType::I32], &[]);
        b.func_body().unreachable();
        let panic_at = b.finish(vec![m.locals.add(ValType::I32), m.locals.add(ValType::I32)], &mut m.funcs);
        let mut b = FunctionBuilder::new(&mut m.types, &[ValType::I32], &[]);
        let x = m.locals.add(ValType::I32);
        // log(); if x { panic_at(x + 1, 0x10_0000) }
        b.func_body().call(log).local_get(x).if_else(
            None,
            |then| {
                then.local_get(x).i32_const(1).binop(walrus::ir::BinaryOp::I32Add).i32_const(0x10_0000).call(panic_at);
            },
            |_| {},
        );
        let f = b.finish(vec![x], &mut m.funcs);
        m.exports.add("f", f);
        run(&mut m);
        walrus::passes::gc::run(&mut m);
        let body = m.funcs.get(f).kind.unwrap_local();
        let Instr::IfElse(branch) = &body.block(body.entry_block()).instrs[2].0 else { panic!("not an if") };
        let then: Vec<_> = body.block(branch.consequent).instrs.iter().map(|(i, _)| i).collect();
        assert!(matches!(then.as_slice(), [Instr::Unreachable(_)]), "{then:?}");
        assert!(m.funcs.iter().all(|g| g.id() != panic_at), "nothing calls the panicking function any more");
        assert!(m.imports.iter().any(|i| i.name == "log"), "effects outside the trap path stay");
    }

    #[test]
    fn an_early_return_means_the_function_does_not_diverge() {
        let mut m = Module::with_config(ModuleConfig::new());
        let mut b = FunctionBuilder::new(&mut m.types, &[ValType::I32], &[]);
        let x = m.locals.add(ValType::I32);
        b.func_body()
            .local_get(x)
            .if_else(
                None,
                |then| {
                    then.return_();
                },
                |_| {},
            )
            .unreachable();
        let f = b.finish(vec![x], &mut m.funcs);
        m.exports.add("f", f);
        assert!(run(&mut m).is_empty());
    }

    #[test]
    fn a_throwing_import_is_a_way_out() {
        let mut m = Module::with_config(ModuleConfig::new());
        let ty = m.types.add(&[], &[]);
        let (throw, _) = m.add_import_func("./index_bg.js", "__wbg___wbindgen_throw_abc", ty);
        let mut b = FunctionBuilder::new(&mut m.types, &[], &[]);
        b.func_body().call(throw).unreachable();
        let f = b.finish(vec![], &mut m.funcs);
        m.exports.add("f", f);
        assert!(run(&mut m).is_empty(), "a JS exception must stay a JS exception");
    }

    /// C's `longjmp` on Wasm exception handling: `fail` calls a function that
    /// throws, then `unreachable`; it leaves by the throw, so it is kept, and
    /// so is a function that calls it.
    #[test]
    fn a_call_to_a_function_that_throws_is_a_way_out() {
        let mut m = Module::with_config(ModuleConfig::new());
        let ty = m.types.add(&[ValType::I32], &[]);
        let tag = m.tags.add(ty);
        let mut b = FunctionBuilder::new(&mut m.types, &[ValType::I32], &[]);
        let value = m.locals.add(ValType::I32);
        b.func_body().local_get(value).instr(walrus::ir::Throw { tag }).unreachable();
        let longjmp = b.finish(vec![value], &mut m.funcs);
        let mut b = FunctionBuilder::new(&mut m.types, &[], &[]);
        b.func_body().i32_const(1).call(longjmp).unreachable();
        let fail = b.finish(vec![], &mut m.funcs);
        let mut b = FunctionBuilder::new(&mut m.types, &[], &[]);
        b.func_body().call(fail).unreachable();
        let caller = b.finish(vec![], &mut m.funcs);
        m.exports.add("caller", caller);
        m.exports.add("fail", fail);
        assert!(run(&mut m).is_empty(), "nothing here traps for sure");
    }

    /// `checked_div` before and after, run in V8: same results where it
    /// returns, a trap where it panicked.
    #[test]
    fn non_trapping_behaviour_is_unchanged_in_v8() {
        let script = r#"
            import { readFileSync } from "node:fs";
            const run = (path) => {
                const { exports } = new WebAssembly.Instance(
                    new WebAssembly.Module(readFileSync(path)), { env: { log() {} } });
                const results = [[84, 2], [7, 7], [0, 5]].map(([a, b]) => exports.checked_div(a, b));
                let trapped = false;
                try { exports.checked_div(1, 0); } catch (e) { trapped = e instanceof WebAssembly.RuntimeError; }
                return JSON.stringify({ results, trapped });
            };
            console.log(run(process.argv[2]) + " " + run(process.argv[3]));
        "#;
        let dir = tempfile::tempdir().unwrap();
        let (mut before, _) = sample();
        let (mut after, _) = sample();
        run(&mut after);
        walrus::passes::gc::run(&mut after);
        let (a, b) = (dir.path().join("before.wasm"), dir.path().join("after.wasm"));
        std::fs::write(&a, before.emit_wasm()).unwrap();
        std::fs::write(&b, after.emit_wasm()).unwrap();
        let out = crate::node::run(&crate::node::for_tests(), script, &[a.as_os_str(), b.as_os_str()]).unwrap();
        let (x, y) = out.trim().split_once(' ').unwrap();
        assert_eq!(x, r#"{"results":[42,1,0],"trapped":true}"#);
        assert_eq!(x, y);
    }
}
