// The C++ twin of the benchmark workloads (src/programs/bench.rs): the same libtorch calls, in the same
// order, driven from C++ with no wrapper at all, so that Rust/C++ measures what tch and our Rust
// code add on top of libtorch. scripts/bench.py compiles it (with scripts/cxx, the compiler and
// flags torch-sys uses, against the same .libtorch) into target/release/bench-twin; it is not part
// of `cargo build` or the tests.
//
//   bench-twin lesson-step|kernel-step|sweep|softmax [--steps N] [--warmup N] [--threads N]
//              [--windows N] [--rows N] [--features N] [--sizes ROWS:STEPS,...] [--device cpu|cuda|auto]
//              [--losses N] [--epochs N]
//
// Each call below is the one tch's generated C wrapper makes for the Rust call named beside it
// (torch-sys's torch_api*.cpp), so both sides run the very same ATen operators.
#include <torch/torch.h>

#include <dlfcn.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

struct Args {
  std::string workload;
  long steps = 20000, warmup = 1000, windows = 1, threads = 1, rows = 65536, features = 784, losses = 0,
       epochs = 70;
  std::string device = "cpu", sizes;
};

[[noreturn]] void usage(const std::string &why) {
  std::fprintf(stderr, "error: %s\n", why.c_str());
  std::exit(2);
}

long positive(const char *s, const char *name) {
  char *end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (!*s || *end || v < 1) usage(std::string("--") + name + ": expected a positive integer");
  return v;
}

// src/device.rs: CUDA support lives in libtorch_cuda.so, which must be loaded before the first
// libtorch call; `auto` loads it only when an NVIDIA driver is present.
torch::Device resolve_device(const std::string &name) {
  if (name == "cpu") return torch::kCPU;
  bool driver = access("/proc/driver/nvidia/version", F_OK) == 0;
  if (name == "auto" && !driver) return torch::kCPU;
  if (!dlopen("libtorch_cuda.so", RTLD_NOW | RTLD_GLOBAL)) {
    if (name == "auto") return torch::kCPU;
    usage(std::string("cannot load CUDA support: ") + dlerror());
  }
  if (!torch::cuda::is_available()) {
    if (name == "auto") return torch::kCPU;
    usage("no CUDA device");
  }
  return torch::Device(torch::kCUDA, 0);
}

void sync(const torch::Device &device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

// src/nn/linear.rs Linear::new: nn.Linear's init, draw for draw (weight, then bias), on the CPU with
// the default generator, then moved to the device, as leaves that require grad.
struct Linear {
  torch::Tensor weight, bias;
  Linear(int64_t in, int64_t out, const torch::Device &device) {
    torch::NoGradGuard no_grad;
    auto opts = at::device(torch::kCPU).dtype(torch::kFloat);
    double a = std::sqrt(5.0);
    double gain = std::sqrt(2.0 / (1.0 + a * a));
    double w_bound = std::sqrt(3.0) * (gain / std::sqrt(static_cast<double>(in)));
    double b_bound = in > 0 ? 1.0 / std::sqrt(static_cast<double>(in)) : 0.0;
    auto w = torch::empty({out, in}, opts);
    w.uniform_(-w_bound, w_bound);
    auto b = torch::empty({out}, opts);
    b.uniform_(-b_bound, b_bound);
    weight = w.to(device, w.scalar_type(), false, false);
    bias = b.to(device, b.scalar_type(), false, false);
  }
  void requires_grad() {
    weight.set_requires_grad(true);
    bias.set_requires_grad(true);
  }
  torch::Tensor forward(const torch::Tensor &x) const {  // x.linear(&w, Some(&b))
    return torch::linear(x, weight, std::optional<at::Tensor>(bias));
  }
};

// src/nn/sgd.rs Sgd::new: tch's ato_sgd and ato_add_parameters (parameters added to group 0 after
// the optimiser is made with none).
std::unique_ptr<torch::optim::SGD> make_sgd(const std::vector<torch::Tensor> &params, double lr) {
  auto options = torch::optim::SGDOptions(lr).momentum(0.0).dampening(0.0).weight_decay(0.0).nesterov(false);
  auto sgd = std::make_unique<torch::optim::SGD>(std::vector<torch::Tensor>(), options);
  for (const auto &p : params) {
    auto &groups = sgd->param_groups();
    while (groups.empty()) groups.push_back(torch::optim::OptimizerParamGroup({}, sgd->defaults().clone()));
    groups[0].params().push_back(p);
  }
  return sgd;
}

// nn.CrossEntropyLoss() (src/nn/loss.rs cross_entropy).
torch::Tensor cross_entropy(const torch::Tensor &input, const torch::Tensor &target) {
  return torch::cross_entropy_loss(input, target, std::nullopt, at::Reduction::Mean, -100, 0.0);
}

// src/programs/softmax.rs Training: the lesson's program up to the loop.
struct Lesson {
  torch::Tensor x, target;
  std::unique_ptr<Linear> dense;
  std::unique_ptr<torch::optim::SGD> optimizer;
  explicit Lesson(const torch::Device &device) {
    torch::manual_seed(7);
    auto cpu = at::device(torch::kCPU);
    auto X = torch::rand({7, 2, 2}, cpu.dtype(torch::kFloat));
    auto t = torch::randint(0, 2, {7}, cpu.dtype(torch::kLong));
    x = X.to(device, X.scalar_type(), false, false);
    target = t.to(device, t.scalar_type(), false, false);
    dense = std::make_unique<Linear>(4, 3, device);
    dense->requires_grad();
    optimizer = make_sgd({dense->weight, dense->bias}, 0.1);
  }
  // Training::epoch: forward (view, linear, softmax), loss, .sum(), zero_grad, backward, step.
  torch::Tensor step() {
    auto y_hat = torch::softmax(dense->forward(x.view({-1, 4})), 1, std::optional<at::ScalarType>());
    auto l = torch::sum(cross_entropy(y_hat, target), std::optional<at::ScalarType>());
    optimizer->zero_grad();
    l.backward({}, false, false);
    optimizer->step();
    return l;
  }
};

// src/programs/bench.rs kernel_step: softmax regression on ROWS x FEATURES -> 10 synthetic data.
struct Kernel {
  torch::Tensor x, y;
  std::unique_ptr<Linear> model;
  std::unique_ptr<torch::optim::SGD> optimizer;
  Kernel(const torch::Device &device, int64_t rows, int64_t features) {
    torch::manual_seed(0);
    auto cpu = at::device(torch::kCPU);
    auto X = torch::randn({rows, features}, cpu.dtype(torch::kFloat));
    auto Y = torch::randint(0, 10, {rows}, cpu.dtype(torch::kLong));
    x = X.to(device, X.scalar_type(), false, false);
    y = Y.to(device, Y.scalar_type(), false, false);
    model = std::make_unique<Linear>(features, 10, device);
    model->requires_grad();
    optimizer = make_sgd({model->weight, model->bias}, 0.1);
  }
  torch::Tensor step() {
    auto loss = cross_entropy(model->forward(x), y);
    optimizer->zero_grad();
    loss.backward({}, false, false);
    optimizer->step();
    return loss;
  }
};

double cpu_time() {  // src/programs/bench.rs cpu_time: CLOCK_PROCESS_CPUTIME_ID
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

struct StepTime {
  double wall_s, cpu_s;
};

// src/programs/bench.rs time_steps: `steps` steps after `warmup` untimed ones, timed in `windows` equal
// windows; the fastest on the wall clock counts, with its CPU time.
template <class Step>
StepTime time_steps(const torch::Device &device, long warmup, long steps, long windows, Step step) {
  for (long i = 0; i < warmup; ++i) step();
  windows = std::max(1L, std::min(windows, steps));
  long per_window = steps / windows;
  StepTime best{1e300, 1e300};
  for (long w = 0; w < windows; ++w) {
    sync(device);
    auto start = std::chrono::steady_clock::now();
    double cpu_start = cpu_time();
    for (long i = 0; i < per_window; ++i) step();
    sync(device);
    std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    double wall = elapsed.count() / static_cast<double>(per_window);
    if (wall < best.wall_s) best = {wall, (cpu_time() - cpu_start) / static_cast<double>(per_window)};
  }
  return best;
}

void print_losses(const std::vector<double> &losses) {
  std::printf("{\"side\": \"c++\", \"losses\": [");
  for (size_t i = 0; i < losses.size(); ++i) std::printf("%s%.17g", i ? ", " : "", losses[i]);
  std::printf("]}\n");
}

std::vector<std::pair<long, long>> parse_sizes(const std::string &text) {
  std::vector<std::pair<long, long>> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t colon = item.find(':');
    if (colon == std::string::npos) usage("--sizes: expected ROWS:STEPS,...");
    out.emplace_back(positive(item.substr(0, colon).c_str(), "sizes"), positive(item.substr(colon + 1).c_str(), "sizes"));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (out.empty()) usage("--sizes: expected ROWS:STEPS,...");
  return out;
}

}  // namespace

int main(int argc, char **argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto value = [&]() -> const char * {
      if (i + 1 >= argc) usage(k + ": missing value");
      return argv[++i];
    };
    if (k == "--steps") a.steps = positive(value(), "steps");
    else if (k == "--warmup") a.warmup = positive(value(), "warmup");
    else if (k == "--windows") a.windows = positive(value(), "windows");
    else if (k == "--threads") a.threads = positive(value(), "threads");
    else if (k == "--rows") a.rows = positive(value(), "rows");
    else if (k == "--features") a.features = positive(value(), "features");
    else if (k == "--losses") a.losses = positive(value(), "losses");
    else if (k == "--epochs") a.epochs = positive(value(), "epochs");
    else if (k == "--sizes") a.sizes = value();
    else if (k == "--device") a.device = value();
    else if (k.rfind("--", 0) != 0 && a.workload.empty()) a.workload = k;
    else usage("unknown argument " + k);
  }
  if (a.workload != "lesson-step" && a.workload != "kernel-step" && a.workload != "sweep" && a.workload != "softmax")
    usage("expected a workload: lesson-step, kernel-step, sweep or softmax");
  // The device first of all (CUDA support must be loaded before any other libtorch call).
  torch::Device device = resolve_device(a.device);
  at::set_num_threads(static_cast<int>(a.threads));
  try {
    if (a.workload == "softmax") {
      // The `softmax` program's text (start-up measurement): one line per epoch.
      Lesson run(device);
      for (long e = 1; e <= a.epochs; ++e) {
        double l = run.step().item<double>();
        std::printf("epoch %ld, loss %.4f\n", e, l);
        std::fflush(stdout);
      }
      return 0;
    }
    if (a.losses > 0) {
      std::vector<double> losses;
      if (a.workload == "lesson-step") {
        Lesson run(device);
        for (long i = 0; i < a.losses; ++i) losses.push_back(run.step().item<double>());
      } else {
        Kernel run(device, a.rows, a.features);
        for (long i = 0; i < a.losses; ++i) losses.push_back(run.step().item<double>());
      }
      print_losses(losses);
      return 0;
    }
    if (a.workload == "sweep") {
      std::printf("{\"side\": \"c++\", \"features\": %ld, \"threads\": %d, \"sweep\": [", a.features, at::get_num_threads());
      bool first = true;
      for (auto [rows, steps] : parse_sizes(a.sizes)) {
        Kernel run(device, rows, a.features);
        auto s = time_steps(device, std::max(1L, steps / 10), steps, a.windows, [&] { run.step(); });
        std::printf("%s{\"rows\": %ld, \"steps\": %ld, \"per_step_s\": %.9g, \"cpu_per_step_s\": %.9g}",
                    first ? "" : ", ", rows, steps, s.wall_s, s.cpu_s);
        first = false;
      }
      std::printf("]}\n");
      return 0;
    }
    StepTime per_step;
    if (a.workload == "lesson-step") {
      Lesson run(device);
      per_step = time_steps(device, a.warmup, a.steps, a.windows, [&] { run.step(); });
    } else {
      Kernel run(device, a.rows, a.features);
      per_step = time_steps(device, a.warmup, a.steps, a.windows, [&] { run.step(); });
    }
    std::printf("{\"side\": \"c++\", \"per_step_s\": %.9g, \"cpu_per_step_s\": %.9g, \"steps\": %ld, \"threads\": %d, "
                "\"method\": \"std::chrono::steady_clock around each window of steps after warm-up steps, the fastest window; no loss read back\"}\n",
                per_step.wall_s, per_step.cpu_s, a.steps, at::get_num_threads());
  } catch (const std::exception &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
