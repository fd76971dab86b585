// classify_cpp: the same as classify.c through the C++ wrapper (squint/squint_rt.hpp), with
// --threads and --isa. Built against the installed package (examples/CMakeLists.txt).
//
//   classify_cpp MODEL.sqnt SAMPLES.f32 [TOP] [--threads N] [--isa reference|avx2|avx512vnni|neon|neondot]
#include <squint/squint_rt.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

namespace {

std::vector<float> ReadFloats(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw std::runtime_error(path + ": cannot open");
  const std::streamoff size = f.tellg();
  if (size <= 0 || size % 4 != 0)
    throw std::runtime_error(path + ": size is not a positive multiple of 4 bytes (float32 values)");
  std::vector<float> values(static_cast<size_t>(size / 4));
  f.seekg(0);
  if (!f.read(reinterpret_cast<char*>(values.data()), size)) throw std::runtime_error(path + ": cannot read");
  return values;
}

squint_rt_isa ParseIsa(const std::string& name) {
  if (name == "reference") return SQUINT_RT_ISA_REFERENCE;
  if (name == "avx2") return SQUINT_RT_ISA_AVX2;
  if (name == "avx512vnni") return SQUINT_RT_ISA_AVX512VNNI;
  if (name == "neon") return SQUINT_RT_ISA_NEON;
  if (name == "neondot") return SQUINT_RT_ISA_NEONDOT;
  throw std::runtime_error("--isa " + name + ": expected reference, avx2, avx512vnni, neon or neondot");
}

int Run(int argc, char** argv) {
  std::vector<std::string> args;
  squint::runtime::Model::Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--threads" || a == "--isa") && i + 1 < argc) {
      const std::string v = argv[++i];
      if (a == "--isa") options.isa = ParseIsa(v);
      else options.threads = std::stoi(v);
    } else {
      args.push_back(a);
    }
  }
  if (args.size() < 2 || args.size() > 3) {
    std::cerr << "usage: classify_cpp MODEL.sqnt SAMPLES.f32 [TOP] [--threads N] [--isa NAME]\n";
    return 2;
  }
  const size_t top = args.size() == 3 ? static_cast<size_t>(std::stoul(args[2])) : 3;
  squint::runtime::Model model(args[0], options);
  const std::vector<float> x = ReadFloats(args[1]);
  const int32_t batch = model.batch_size();
  const size_t per_sample = static_cast<size_t>(model.input(0).num_elements) / (batch > 0 ? batch : 1);
  if (x.size() % per_sample != 0 || (batch == 0 && x.size() != per_sample))
    throw std::runtime_error(args[1] + ": " + std::to_string(x.size()) + " values do not make whole samples of " +
                             std::to_string(per_sample) + " for input '" + model.input(0).name + "'");
  const size_t samples = x.size() / per_sample;
  if (batch > 0) model.Resize(static_cast<int64_t>(samples));
  model.SetInput(0, x);
  model.Invoke();
  const std::vector<float> scores = model.Output(0);
  const size_t classes = scores.size() / samples;
  for (size_t s = 0; s < samples; ++s) {
    std::vector<size_t> order(classes);
    std::iota(order.begin(), order.end(), 0);
    const float* row = scores.data() + s * classes;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return row[a] > row[b]; });
    std::printf("sample %zu:", s);
    for (size_t k = 0; k < std::min(top, classes); ++k)
      std::printf(" %zu (%.6g)", order[k], static_cast<double>(row[order[k]]));
    std::printf("\n");
  }
  std::fprintf(stderr, "classify_cpp: %zu samples on %s, runtime %d\n", samples, model.isa().c_str(),
               squint_rt_version());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "classify_cpp: " << e.what() << "\n";
    return 2;
  }
}
