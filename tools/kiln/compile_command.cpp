// `kiln compile OP`: compiles one operator for a target and prints the stages asked for, so a
// reader can see what each stage of the compiler does (compute definition, schedule, loop IR,
// LLVM IR, host assembly, OpenCL C). `kiln compile --model FILE` and `--graph TEXT` print a
// whole graph: the graph, its kernel groups (the fusion pass), and any stage of each distinct
// definition it compiles.
#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "base/error.h"
#include "commands.h"
#include "compiler/graph_program.h"
#include "compile_graph.h"
#include "compiler/pipeline.h"
#include "graph/builder.h"
#include "graph/parser.h"
#include "graph/ops.h"
#include "graph/printer.h"
#include "gguf/gguf_file.h"
#include "models/llama.h"
#include "passes/fuse.h"
#include "kernel/ir/printer.h"
#include "kernel/compute/dequant_expr.h"
#include "kernel/compute/ops.h"

namespace kiln::cli {
namespace {

using kernel::ComputeDef;
namespace ops = kernel::ops;

struct CompileFlags {
  std::string op;
  std::string model;
  std::string graph;
  std::string target = "cpu";
  std::string dtype;  // empty: the operator's default (dtype_of)
  std::string from = "f32";
  std::string mask;   // softmax's mask dtype; empty: no mask
  std::vector<std::string> dump;
  double eps = 1e-5;
  double scale = 1.0;
  double softcap = 0.0;
  bool causal = true;
  bool int8 = false;
  bool no_int8 = false;
  int64_t interleave = 1;
  int64_t window = 0;
  double theta = 10000.0;
  double freq_scale = 1.0;
  int rank = 2;
  std::string cpu;
};

DType parse_dtype(const std::string& name) {
  const std::optional<DType> dtype = dtype_from_name(name);
  if (!dtype) user_error("unknown dtype '{}'", name);
  return *dtype;
}

DType dtype_of(const CompileFlags& f, DType fallback = DType::f32) {
  return f.dtype.empty() ? fallback : parse_dtype(f.dtype);
}

// Every operator `kiln compile` knows, with the flags each one reads.
const std::map<std::string, std::function<ComputeDef(const CompileFlags&)>>& operators() {
  using U = ops::Unary;
  using B = ops::Binary;
  static const std::map<std::string, std::function<ComputeDef(const CompileFlags&)>> table = {
      {"matmul",
       [](const CompileFlags& f) {
         const DType w = dtype_of(f);
         if (!f.int8) return ops::matmul(w);
         if (!kernel::can_pack_quads(w)) user_error("--int8: no 8-bit activation path for {} weights", dtype_name(w));
         return ops::matmul_int8_activations(w, f.interleave);
       }},
      {"embedding", [](const CompileFlags& f) { return ops::embedding(dtype_of(f)); }},
      {"rms_norm", [](const CompileFlags& f) { return ops::rms_norm(f.eps); }},
      {"layer_norm", [](const CompileFlags& f) { return ops::layer_norm(f.eps); }},
      {"softmax",
       [](const CompileFlags& f) {
         return ops::softmax(f.scale, !f.mask.empty(), f.mask.empty() ? DType::f32 : parse_dtype(f.mask));
       }},
      {"attention",
       [](const CompileFlags& f) { return ops::attention(f.scale, f.softcap, f.causal, f.window, dtype_of(f)); }},
      {"attention_paged",
       [](const CompileFlags& f) { return ops::attention(f.scale, f.softcap, f.causal, f.window, dtype_of(f), true); }},
      {"rope", [](const CompileFlags& f) { return ops::rope(ops::RopeMode::Normal, 64, f.theta, f.freq_scale, false); }},
      {"rope_neox", [](const CompileFlags& f) { return ops::rope(ops::RopeMode::Neox, 64, f.theta, f.freq_scale, false); }},
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
      {"cast", [](const CompileFlags& f) { return ops::convert(parse_dtype(f.from), dtype_of(f, DType::f16), f.rank); }},
      {"sum", [](const CompileFlags&) { return ops::reduce(kernel::ReduceKind::Sum); }},
      {"max", [](const CompileFlags&) { return ops::reduce(kernel::ReduceKind::Max); }},
      {"mean", [](const CompileFlags&) { return ops::reduce(kernel::ReduceKind::Sum, true); }},
      {"argmax", [](const CompileFlags&) { return ops::argmax(); }},
      {"permute", [](const CompileFlags& f) { return ops::permute({1, 0}, dtype_of(f)); }},
      {"slice", [](const CompileFlags& f) { return ops::slice(f.rank, f.rank - 1, dtype_of(f)); }},
      {"concat", [](const CompileFlags& f) { return ops::concat(f.rank, f.rank - 1, dtype_of(f)); }},
      {"reshape", [](const CompileFlags& f) { return ops::reshape(2, 1, dtype_of(f)); }},
      {"kv_write", [](const CompileFlags& f) { return ops::kv_write(dtype_of(f)); }},
  };
  return table;
}

// Which operand of which graph op a dtype flag sets, for the operators that read one.
struct DTypeFlag {
  std::string_view flag;      // "--dtype"
  graph::OpKind op;
  std::string_view operand;  // as the registry names it
};

std::vector<DTypeFlag> dtype_flags(const std::string& op) {
  using graph::OpKind;
  if (op == "matmul") return {{"--dtype", OpKind::matmul, "weight"}};
  if (op == "embedding") return {{"--dtype", OpKind::embedding, "weight"}};
  if (op == "attention" || op == "attention_paged") return {{"--dtype", OpKind::attention, "k"}};
  if (op == "kv_write") return {{"--dtype", OpKind::kv_write, "cache"}};
  if (op == "softmax") return {{"--mask", OpKind::softmax, "mask"}};
  // cast's result dtype is an attribute, checked by cast's shape rule when the graph is built.
  if (op == "cast") return {{"--from", OpKind::cast, "x"}, {"--dtype", OpKind::cast, ""}};
  for (const char* view : {"reshape", "permute", "slice", "concat"}) {
    if (op == view) return {{"--dtype", *graph::op_from_name(view), "x"}};
  }
  return {};
}

// The op registry (graph/ops.h) decides which dtypes an operator takes, before a definition is
// built for one: a dtype the registry refuses is the user's mistake, not an internal error.
void check_dtype_flags(const CompileFlags& f) {
  const std::vector<DTypeFlag> flags = dtype_flags(f.op);
  const auto reads = [&](std::string_view flag) {
    return std::any_of(flags.begin(), flags.end(), [&](const DTypeFlag& d) { return d.flag == flag; });
  };
  if (!f.dtype.empty() && !reads("--dtype")) {
    user_error("{} takes no --dtype: it computes in f32 (--dtype sets the weight of matmul and embedding, the "
               "KV cache of attention and kv_write, the elements of views, the result of cast)", f.op);
  }
  if (!f.mask.empty() && !reads("--mask")) user_error("--mask is softmax's; {} takes no mask", f.op);
  if (f.from != "f32" && !reads("--from")) user_error("--from is cast's; {} takes no source dtype", f.op);
  for (const DTypeFlag& d : flags) {
    const std::string& given = d.flag == "--dtype" ? f.dtype : d.flag == "--mask" ? f.mask : f.from;
    if (given.empty() || d.operand.empty()) continue;
    const DType dtype = parse_dtype(given);
    const graph::OpInfo& info = graph::op_info(d.op);
    for (const graph::OperandSpec& spec : info.operands) {
      if (spec.name == d.operand && !spec.dtypes.contains(dtype)) {
        user_error("{} {}: {}'s {} accepts {}, not {}", d.flag, given, info.name, spec.name, spec.dtypes.to_string(),
                   dtype_name(dtype));
      }
    }
  }
}

// A symbolic size of the loop IR as a graph shape expression, with some symbols replaced:
// `n` holding whole blocks of a quantized format becomes block * n_blocks, so the graph can
// prove the rows divisible.
graph::SymExpr to_sym(const ir::Expr& e, const std::map<std::string, graph::SymExpr>& replaced) {
  if (const int64_t* c = ir::as_const_int(e)) return graph::SymExpr(*c);
  if (const auto* v = e.as<ir::Var>()) {
    auto it = replaced.find(v->name);
    return it == replaced.end() ? graph::sym(v->name) : it->second;
  }
  if (const auto* b = e.as<ir::Binary>()) {
    switch (b->op) {
      case ir::BinaryOp::Add: return to_sym(b->a, replaced) + to_sym(b->b, replaced);
      case ir::BinaryOp::Sub: return to_sym(b->a, replaced) - to_sym(b->b, replaced);
      case ir::BinaryOp::Mul: return to_sym(b->a, replaced) * to_sym(b->b, replaced);
      case ir::BinaryOp::Div: return to_sym(b->a, replaced) / to_sym(b->b, replaced);
      default: break;
    }
  }
  user_error("cannot show the size '{}' in a graph", ir::to_string(e));
}

graph::Shape to_shape(const kernel::TensorDecl& t, const std::map<std::string, graph::SymExpr>& replaced) {
  graph::Shape shape;
  for (const ir::Expr& d : t.shape) shape.push_back(to_sym(d, replaced));
  return shape;
}

// The operator as a one-node graph: its inputs (as the compute definition names them) and the
// graph op with the flags' attributes. Building it runs the registry's checks (a cast to a
// dtype cast does not make is refused here); printed by --dump graph.
graph::Graph op_graph(const std::string& op, const ComputeDef& def, const CompileFlags& f) {
  graph::GraphBuilder b;
  std::map<std::string, graph::SymExpr> replaced;
  for (const kernel::TensorDecl& t : def.inputs) {
    const auto* row = t.shape.empty() ? nullptr : t.shape.back().as<ir::Var>();
    if (row && is_quantized(t.dtype)) {
      replaced[row->name] = static_cast<int64_t>(dtype_info(t.dtype).block_size) * graph::sym(row->name + "_blocks");
    }
  }
  // The shape rule proves grouped-query heads divisible only for a constant n_kv_head, so the
  // graph shows one kv head per query head (kh = h); --dump compute shows the grouped form.
  if (op == "attention" || op == "attention_paged") replaced["kh"] = graph::sym("h");
  std::vector<graph::ValueId> in;
  for (const kernel::TensorDecl& t : def.inputs) in.push_back(b.input(t.name, t.dtype, to_shape(t, replaced)));
  const graph::AttentionOptions attention{.softcap = f.softcap, .causal = f.causal, .window = f.window};
  graph::ValueId out;
  if (op == "rms_norm") out = b.rms_norm(in[0], f.eps);
  else if (op == "layer_norm") out = b.layer_norm(in[0], f.eps);
  else if (op == "softmax") out = b.softmax(in[0], f.scale, in.size() > 1 ? std::optional(in[1]) : std::nullopt);
  else if (op == "attention") out = b.attention(in[0], in[1], in[2], f.scale, attention);
  else if (op == "attention_paged") out = b.attention(in[0], in[1], in[2], f.scale, attention, in[3]);
  else if (op == "rope" || op == "rope_neox") {
    out = b.rope(in[0], in[1], {.mode = op == "rope" ? graph::RopeMode::normal : graph::RopeMode::neox, .n_dims = 64,
                                .theta = f.theta, .freq_scale = f.freq_scale});
  } else if (op == "scale") out = b.scale(in[0], f.scale);
  else if (op == "softcap") out = b.softcap(in[0], f.softcap > 0 ? f.softcap : 30.0);
  else if (op == "cast") out = b.cast(in[0], def.outputs[0].dtype);
  else if (op == "permute") out = b.permute(in[0], {1, 0});
  else if (op == "reshape") out = b.reshape(in[0], {graph::num_elements(b.type(in[0]).shape)});
  else if (op == "slice") out = b.slice(in[0], f.rank - 1, b.symbol("start"), b.symbol("length"));
  else if (op == "concat") out = b.concat({in[0], in[1]}, f.rank - 1);
  else if (op == "kv_write") {
    // The cache is the definition's output, updated in place: in the graph, an input too.
    const graph::ValueId cache = b.input("cache", def.outputs[0].dtype, to_shape(def.outputs[0], replaced));
    out = b.kv_write(cache, in[0], in[1]);
  } else {
    out = b.op(op, op == "embedding" ? std::vector<graph::ValueId>{in[0], in[1]} : in);
  }
  b.output(out);
  return b.finish();
}

std::string operator_list() {
  std::string names;
  for (const auto& [name, make] : operators()) names += (names.empty() ? "" : ", ") + name;
  return names;
}

// A model's graph (one decode/prefill step) and what fusion makes of it.
// The text of --graph: given inline, or read from a file named after '@' ('@-': stdin).
std::string graph_text(const std::string& arg) {
  if (arg.empty() || arg[0] != '@') return arg;
  const std::string path = arg.substr(1);
  std::stringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream file(path);
    if (!file) user_error("cannot read the graph file '{}'", path);
    text << file.rdbuf();
  }
  return text.str();
}

// A whole graph: a model's (one decode/prefill step) or one given as text; what fusion makes
// of it, and every stage of each distinct definition it compiles.
// The target description --target names; --cpu NAME is short for --target cpu:NAME.
Target target_of(const CompileFlags& flags) {
  if (flags.cpu.empty()) return compiler::parse_target(flags.target);
  if (flags.target != "cpu") user_error("--cpu names a CPU for --target cpu; for {} leave it out", flags.target);
  return compiler::parse_target("cpu:" + flags.cpu);
}

void print_whole_graph(const CompileFlags& flags) {
  if (!flags.op.empty()) user_error("give an operator, --model or --graph, not two of them");
  if (!flags.model.empty() && !flags.graph.empty()) user_error("give --model or --graph, not both");
  const std::vector<std::string> stages = flags.dump.empty() ? std::vector<std::string>{"fused"} : flags.dump;
  compiler::CompileOptions options;
  options.target = target_of(flags);
  if (!flags.graph.empty()) {
    return print_graph_stages(graph::parse_graph(graph_text(flags.graph)), "graph", stages, options, !flags.no_int8);
  }
  const gguf::GGUFFile file = gguf::GGUFFile::open(flags.model);
  const models::ModelGraph model = models::build_model_graph(file, 2048, false);
  print_graph_stages(model.graph, flags.model, stages, options, !flags.no_int8);
}

void run_compile(const CompileFlags& flags) {
  if (!flags.model.empty() || !flags.graph.empty()) return print_whole_graph(flags);
  if (flags.op.empty()) user_error("give an operator ({}), --model FILE or --graph TEXT", operator_list());
  auto it = operators().find(flags.op);
  if (it == operators().end()) user_error("unknown operator '{}'; known: {}", flags.op, operator_list());
  compiler::CompileOptions options;
  options.target = target_of(flags);
  std::vector<std::string> stages = flags.dump.empty() ? std::vector<std::string>{"loops"} : flags.dump;
  for (const std::string& stage : stages) {
    if (stage == "graph") continue;  // printed here, before the compiler runs
    if (stage == "fused") user_error("--dump fused shows a model's kernel groups: it needs --model FILE or --graph TEXT");
    const auto& known = compiler::dump_stage_names();
    if (std::find(known.begin(), known.end(), stage) == known.end()) {
      user_error("unknown --dump stage '{}'; stages: {}", stage, fmt::join(known, ", "));
    }
    const bool cpu_only = stage == "llvm" || stage == "asm";
    if (cpu_only && options.target.kind != TargetKind::Cpu) user_error("--dump {} needs --target cpu", stage);
    if (stage == "opencl" && options.target.kind != TargetKind::OpenCL) user_error("--dump opencl needs --target opencl");
    options.dump.insert(stage);
  }
  options.compile = false;  // the dumps are the product; nothing is run
  options.on_dump = [](const std::string& stage, const std::string& kernel, const std::string& text) {
    fmt::print("// ---- {} of {} ----\n{}{}", stage, kernel, text, text.empty() || text.back() == '\n' ? "" : "\n");
  };
  check_dtype_flags(flags);
  const ComputeDef def = it->second(flags);
  const graph::Graph graph = op_graph(flags.op, def, flags);
  if (std::find(stages.begin(), stages.end(), "graph") != stages.end()) {
    fmt::print("// ---- graph of {} ----\n{}", def.name, graph::print_graph(graph));
  }
  compiler::compile(def, options);
}

}  // namespace

void add_compile_command(CLI::App& app) {
  auto flags = std::make_shared<CompileFlags>();
  CLI::App* command = app.add_subcommand(
      "compile",
      "Compile an operator, a graph given as text (--graph) or a model's graph (--model) for a target, and print "
      "the stages of the compiler");
  command->add_option("op", flags->op, "Operator: " + operator_list());
  command->add_option("-m,--model", flags->model,
                      "A GGUF model instead of an operator: --dump prints its graph, its kernel groups after "
                      "fusion (fused, the default) and any compiler stage of every distinct definition it compiles");
  command->add_option("-g,--graph", flags->graph,
                      "A graph as text instead of an operator, in the form --dump graph prints, e.g. "
                      "'graph(x: f32[n, 64]) { %0 = rms_norm(x, eps=1e-05) %1 = silu(%0) } -> (%1)' "
                      "(result types may be left out); @FILE reads it from a file, @- from stdin. --dump as for --model");
  command->add_option("--target", flags->target,
                      "cpu (this host), cpu:NAME (a CPU LLVM knows: cpu:znver4, cpu:haswell, ...), opencl (any OpenCL "
                      "device) or opencl:N (that device, as it reports itself); "
                      "--dump target prints what the compiler knows of it")
      ->capture_default_str();
  command->add_option("--dtype", flags->dtype,
                      "Weight of matmul/embedding (f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_K..q6_K; "
                      "default f32), KV cache of attention/attention_paged/kv_write (f32, f16, bf16), elements "
                      "of reshape/permute/slice/concat (f32, f16, bf16, i32), result of cast (f32, f16, bf16; "
                      "default f16)");
  command->add_option("--from", flags->from, "Source dtype of cast (f32, f16, bf16)")->capture_default_str();
  command->add_option("--dump", flags->dump,
                      "Stages to print, comma-separated: graph, target, compute, schedule, passes (the loops after each "
                      "lowering pass), loops, llvm, asm (cpu), opencl "
                      "(opencl); "
                      "default loops; with --model or --graph: graph, fused, compute, ... (default fused)")
      ->delimiter(',');
  command->add_option("--eps", flags->eps, "Epsilon of rms_norm and layer_norm")->capture_default_str();
  command->add_option("--scale", flags->scale, "Scale of scale, softmax and attention")->capture_default_str();
  command->add_option("--softcap", flags->softcap, "Logit softcap of attention (0: none), cap of softcap")
      ->capture_default_str();
  command->add_flag("--causal,!--no-causal", flags->causal, "attention: hide keys after each query (default) or not");
  command->add_flag("--int8", flags->int8,
                    "matmul: the 8-bit activation path models take on CPUs with integer dot products (activations "
                    "quantized to bytes, then packed-byte dot products); --dtype q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, "
                    "q5_K or q6_K");
  command->add_option("--interleave", flags->interleave,
                      "matmul --int8: the weight's rows interleaved in groups of this many, a vector of weight rows "
                      "read with one load (models take the target's i32 lanes: 8 with AVX2, 16 with AVX-512); 1: "
                      "plain rows, a group's words as the vector")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{64}));
  command->add_flag("--no-int8", flags->no_int8,
                    "-m/--graph: quantized matmuls planned in f32, as `kiln run --no-int8` runs them (default: 8-bit "
                    "activations where the target has integer dot products)");
  command->add_option("--window", flags->window, "attention: sliding window in tokens (0: none)")->capture_default_str();
  command->add_option("--theta", flags->theta, "rope: frequency base")->capture_default_str();
  command->add_option("--freq-scale", flags->freq_scale, "rope: frequency scaling factor")->capture_default_str();
  command->add_option("--mask", flags->mask, "softmax: add a mask of this dtype (f32 or f16); default none");
  command->add_option("--cpu", flags->cpu,
                      "Short for --target cpu:NAME: the CPU to schedule for and generate the llvm/asm dumps for, e.g. "
                      "znver5 (AVX-512) or haswell (AVX2); default: this host");
  command->add_option("--rank", flags->rank,
                      "Rank of element-wise operators, and of slice and concat (along the last axis)")
      ->capture_default_str()
      ->check(CLI::Range(1, 8));
  command->callback([flags] { run_compile(*flags); });
}

}  // namespace kiln::cli
