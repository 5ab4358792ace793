// `kiln compile OP`: compiles one operator for a target and prints the stages asked for, so a
// reader can see what each stage of the compiler does (compute definition, schedule, loop IR,
// LLVM IR, host assembly, OpenCL C). `kiln compile --model FILE` prints a model's graph and its
// kernel groups (the fusion pass).
#include <functional>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "base/error.h"
#include "commands.h"
#include "compiler/graph_program.h"
#include "compiler/pipeline.h"
#include "graph/builder.h"
#include "graph/printer.h"
#include "gguf/gguf_file.h"
#include "models/llama.h"
#include "passes/fuse.h"
#include "kernel/ir/printer.h"
#include "kernel/compute/ops.h"

namespace kiln::cli {
namespace {

using kernel::ComputeDef;
namespace ops = kernel::ops;

struct CompileFlags {
  std::string op;
  std::string model;
  std::string target = "cpu";
  std::string dtype = "f32";
  std::vector<std::string> dump;
  double eps = 1e-5;
  double scale = 1.0;
  double softcap = 0.0;
  int rank = 2;
  std::string cpu;
};

DType parse_dtype(const std::string& name) {
  const std::optional<DType> dtype = dtype_from_name(name);
  if (!dtype) user_error("unknown dtype '{}'", name);
  return *dtype;
}

// Every operator `kiln compile` knows, with the flags each one reads.
const std::map<std::string, std::function<ComputeDef(const CompileFlags&)>>& operators() {
  using U = ops::Unary;
  using B = ops::Binary;
  static const std::map<std::string, std::function<ComputeDef(const CompileFlags&)>> table = {
      {"matmul", [](const CompileFlags& f) { return ops::matmul(parse_dtype(f.dtype)); }},
      {"embedding", [](const CompileFlags& f) { return ops::embedding(parse_dtype(f.dtype)); }},
      {"rms_norm", [](const CompileFlags& f) { return ops::rms_norm(f.eps); }},
      {"layer_norm", [](const CompileFlags& f) { return ops::layer_norm(f.eps); }},
      {"softmax", [](const CompileFlags& f) { return ops::softmax(f.scale, false); }},
      {"attention", [](const CompileFlags& f) { return ops::attention(f.scale, f.softcap, true, 0, parse_dtype(f.dtype)); }},
      {"attention_paged",
       [](const CompileFlags& f) { return ops::attention(f.scale, f.softcap, true, 0, parse_dtype(f.dtype), true); }},
      {"rope", [](const CompileFlags&) { return ops::rope(ops::RopeMode::Normal, 64, 10000.0, 1.0, false); }},
      {"rope_neox", [](const CompileFlags&) { return ops::rope(ops::RopeMode::Neox, 64, 10000.0, 1.0, false); }},
      {"add", [](const CompileFlags& f) { return ops::binary(B::Add, f.rank); }},
      {"mul", [](const CompileFlags& f) { return ops::binary(B::Mul, f.rank); }},
      {"sub", [](const CompileFlags& f) { return ops::binary(B::Sub, f.rank); }},
      {"div", [](const CompileFlags& f) { return ops::binary(B::Div, f.rank); }},
      {"silu", [](const CompileFlags& f) { return ops::unary(U::Silu, f.rank); }},
      {"gelu", [](const CompileFlags& f) { return ops::unary(U::Gelu, f.rank); }},
      {"gelu_tanh", [](const CompileFlags& f) { return ops::unary(U::GeluTanh, f.rank); }},
      {"exp", [](const CompileFlags& f) { return ops::unary(U::Exp, f.rank); }},
      {"tanh", [](const CompileFlags& f) { return ops::unary(U::Tanh, f.rank); }},
      {"neg", [](const CompileFlags& f) { return ops::unary(U::Neg, f.rank); }},
      {"rsqrt", [](const CompileFlags& f) { return ops::unary(U::Rsqrt, f.rank); }},
      {"scale", [](const CompileFlags& f) { return ops::unary(U::Scale, f.rank, f.scale); }},
      {"softcap", [](const CompileFlags& f) { return ops::unary(U::Softcap, f.rank, f.softcap > 0 ? f.softcap : 30.0); }},
      {"cast", [](const CompileFlags& f) { return ops::convert(DType::f32, parse_dtype(f.dtype == "f32" ? "f16" : f.dtype), f.rank); }},
      {"sum", [](const CompileFlags&) { return ops::reduce(kernel::ReduceKind::Sum); }},
      {"max", [](const CompileFlags&) { return ops::reduce(kernel::ReduceKind::Max); }},
      {"mean", [](const CompileFlags&) { return ops::reduce(kernel::ReduceKind::Sum, true); }},
      {"argmax", [](const CompileFlags&) { return ops::argmax(); }},
      {"permute", [](const CompileFlags&) { return ops::permute({1, 0}); }},
      {"slice", [](const CompileFlags& f) { return ops::slice(f.rank, f.rank - 1); }},
      {"concat", [](const CompileFlags& f) { return ops::concat(f.rank, f.rank - 1); }},
      {"reshape", [](const CompileFlags&) { return ops::reshape(2, 1); }},
      {"kv_write", [](const CompileFlags& f) { return ops::kv_write(parse_dtype(f.dtype)); }},
  };
  return table;
}

// A symbolic size of the loop IR as a graph shape expression.
// `blocked` symbols hold whole blocks of a quantized format: n becomes block * n_blocks, so the
// graph can prove the rows divisible.
graph::SymExpr to_sym(const ir::Expr& e, const std::map<std::string, int64_t>& blocked) {
  if (const int64_t* c = ir::as_const_int(e)) return graph::SymExpr(*c);
  if (const auto* v = e.as<ir::Var>()) {
    auto it = blocked.find(v->name);
    return it == blocked.end() ? graph::sym(v->name) : it->second * graph::sym(v->name + "_blocks");
  }
  if (const auto* b = e.as<ir::Binary>()) {
    switch (b->op) {
      case ir::BinaryOp::Add: return to_sym(b->a, blocked) + to_sym(b->b, blocked);
      case ir::BinaryOp::Sub: return to_sym(b->a, blocked) - to_sym(b->b, blocked);
      case ir::BinaryOp::Mul: return to_sym(b->a, blocked) * to_sym(b->b, blocked);
      case ir::BinaryOp::Div: return to_sym(b->a, blocked) / to_sym(b->b, blocked);
      default: break;
    }
  }
  user_error("cannot show the size '{}' in a graph", ir::to_string(e));
}

// The operator as a one-node graph: its inputs (as the compute definition names them) and the
// graph op with the flags' attributes; printed by --dump graph.
std::string op_graph(const std::string& op, const ComputeDef& def, const CompileFlags& f) {
  graph::GraphBuilder b;
  std::map<std::string, int64_t> blocked;
  for (const kernel::TensorDecl& t : def.inputs) {
    const auto* row = t.shape.empty() ? nullptr : t.shape.back().as<ir::Var>();
    if (row && is_quantized(t.dtype)) blocked[row->name] = dtype_info(t.dtype).block_size;
  }
  std::vector<graph::ValueId> in;
  for (const kernel::TensorDecl& t : def.inputs) {
    graph::Shape shape;
    for (const ir::Expr& d : t.shape) shape.push_back(to_sym(d, blocked));
    in.push_back(b.input(t.name, t.dtype, shape));
  }
  graph::ValueId out;
  if (op == "rms_norm") out = b.rms_norm(in[0], f.eps);
  else if (op == "layer_norm") out = b.layer_norm(in[0], f.eps);
  else if (op == "softmax") out = b.softmax(in[0], f.scale);
  else if (op == "attention") out = b.attention(in[0], in[1], in[2], f.scale, {.softcap = f.softcap});
  else if (op == "rope" || op == "rope_neox") {
    out = b.rope(in[0], in[1], {.mode = op == "rope" ? graph::RopeMode::normal : graph::RopeMode::neox, .n_dims = 64});
  } else if (op == "scale") out = b.scale(in[0], f.scale);
  else if (op == "softcap") out = b.softcap(in[0], f.softcap > 0 ? f.softcap : 30.0);
  else if (op == "cast") out = b.cast(in[0], def.outputs[0].dtype);
  else if (op == "permute") out = b.permute(in[0], {1, 0});
  else if (op == "mean" || op == "sum" || op == "max" || op == "argmax" || op == "matmul" || op == "embedding" ||
           op == "add" || op == "mul" || op == "sub" || op == "div" || op == "silu" || op == "gelu" ||
           op == "gelu_tanh" || op == "exp" || op == "tanh" || op == "neg" || op == "rsqrt") {
    out = b.op(op, op == "embedding" ? std::vector<graph::ValueId>{in[0], in[1]} : in);
  } else {
    user_error("--dump graph does not show '{}' yet; its other stages can be dumped", op);
  }
  b.output(out);
  return graph::print_graph(b.finish());
}

std::string operator_list() {
  std::string names;
  for (const auto& [name, make] : operators()) names += (names.empty() ? "" : ", ") + name;
  return names;
}

// A model's graph (one decode/prefill step) and what fusion makes of it.
void print_model(const CompileFlags& flags) {
  if (!flags.op.empty()) user_error("give an operator or --model, not both");
  const std::vector<std::string> stages = flags.dump.empty() ? std::vector<std::string>{"fused"} : flags.dump;
  for (const std::string& stage : stages) {
    if (stage != "graph" && stage != "fused" && stage != "compute") {
      user_error("with --model, --dump takes graph, fused and compute, not '{}'", stage);
    }
  }
  const gguf::GGUFFile file = gguf::GGUFFile::open(flags.model);
  const models::ModelGraph model = models::build_model_graph(file, 2048, false);
  for (const std::string& stage : stages) {
    fmt::print("// ---- {} of {} ----\n", stage, flags.model);
    if (stage == "graph") fmt::print("{}", graph::print_graph(model.graph));
    if (stage == "fused") fmt::print("{}", passes::print_groups(model.graph, passes::fuse(model.graph)));
    if (stage == "compute") {
      // What the program would compile: each distinct definition after fusion and with the
      // model's sizes fixed (planned, not compiled).
      const compiler::GraphProgram program(model.graph, compiler::target_from_name(flags.target), {},
                                           compiler::ProgramOptions{.compile = false});
      for (const std::string& def : program.definitions()) fmt::print("{}\n", def);
    }
  }
}

void run_compile(const CompileFlags& flags) {
  if (!flags.model.empty()) return print_model(flags);
  if (flags.op.empty()) user_error("give an operator ({}) or --model FILE", operator_list());
  auto it = operators().find(flags.op);
  if (it == operators().end()) user_error("unknown operator '{}'; known: {}", flags.op, operator_list());
  compiler::CompileOptions options;
  options.target = compiler::target_from_name(flags.target);
  std::vector<std::string> stages = flags.dump.empty() ? std::vector<std::string>{"loops"} : flags.dump;
  for (const std::string& stage : stages) {
    if (stage == "graph") continue;  // printed here, before the compiler runs
    if (stage == "fused") user_error("--dump fused shows a model's kernel groups: it needs --model FILE");
    const auto& known = compiler::dump_stage_names();
    if (std::find(known.begin(), known.end(), stage) == known.end()) {
      user_error("unknown --dump stage '{}'; stages: {}", stage, fmt::join(known, ", "));
    }
    const bool cpu_only = stage == "llvm" || stage == "asm";
    if (cpu_only && options.target != compiler::Target::Cpu) user_error("--dump {} needs --target cpu", stage);
    if (stage == "opencl" && options.target != compiler::Target::OpenCL) user_error("--dump opencl needs --target opencl");
    options.dump.insert(stage);
  }
  options.cpu = flags.cpu;
  options.compile = false;  // the dumps are the product; nothing is run
  options.on_dump = [](const std::string& stage, const std::string& kernel, const std::string& text) {
    fmt::print("// ---- {} of {} ----\n{}{}", stage, kernel, text, text.empty() || text.back() == '\n' ? "" : "\n");
  };
  const ComputeDef def = it->second(flags);
  if (std::find(stages.begin(), stages.end(), "graph") != stages.end()) {
    fmt::print("// ---- graph of {} ----\n{}", def.name, op_graph(flags.op, def, flags));
  }
  compiler::compile(def, options);
}

}  // namespace

void add_compile_command(CLI::App& app) {
  auto flags = std::make_shared<CompileFlags>();
  CLI::App* command = app.add_subcommand(
      "compile", "Compile one operator for a target and print the stages of the compiler");
  command->add_option("op", flags->op, "Operator: " + operator_list());
  command->add_option("-m,--model", flags->model, "A GGUF model instead of an operator: --dump graph,fused,compute print "
                      "its graph, its kernel groups (default) and every distinct definition it compiles");
  command->add_option("--target", flags->target, "cpu or opencl")->capture_default_str();
  command->add_option("--dtype", flags->dtype,
                      "Weight dtype for matmul/embedding (f32, f16, bf16, q4_0, q4_1, q8_0, q4_K, q5_K, q6_K), "
                      "KV dtype for attention/kv_write, result dtype for cast")
      ->capture_default_str();
  command->add_option("--dump", flags->dump,
                      "Stages to print, comma-separated: graph, compute, schedule, loops, llvm, asm (cpu), opencl (opencl); "
                      "default loops; with --model: graph, fused, compute")
      ->delimiter(',');
  command->add_option("--eps", flags->eps, "Epsilon of rms_norm and layer_norm")->capture_default_str();
  command->add_option("--scale", flags->scale, "Scale of scale, softmax and attention")->capture_default_str();
  command->add_option("--softcap", flags->softcap, "Logit softcap of attention (0: none), cap of softcap")
      ->capture_default_str();
  command->add_option("--cpu", flags->cpu,
                      "CPU to generate the llvm/asm dumps for, e.g. znver5 (AVX-512) or skylake; default: this host");
  command->add_option("--rank", flags->rank, "Rank of element-wise operators")->capture_default_str();
  command->callback([flags] { run_compile(*flags); });
}

}  // namespace kiln::cli
