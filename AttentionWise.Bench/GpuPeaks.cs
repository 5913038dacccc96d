using System.Globalization;
using System.Text.RegularExpressions;
using ILGPU.Runtime.Cuda;

namespace AttentionWise.Bench;

/// <summary>
/// A GPU's peaks for a roofline: FP32 (non-tensor-core) arithmetic in TFLOP/s and memory bandwidth in TB/s, with where
/// they come from. Derived from a CUDA device's own properties (multiprocessors × FP32 lanes per multiprocessor × 2 ×
/// clock; bus width × memory clock × 2 for double data rate), or taken from the vendor's data sheet by name.
/// </summary>
public sealed record GpuPeaks(double Fp32Tflops, double MemoryTbs, string Source)
{
    /// <summary>Data-sheet peaks (boost clock, FP32 without tensor cores; the SXM form of the data-centre parts).</summary>
    public static readonly IReadOnlyList<(string Name, double Fp32Tflops, double MemoryTbs)> DataSheets =
    [
        ("H200", 67.0, 4.8),
        ("H100", 67.0, 3.35),
        ("A100", 19.5, 2.039),
        ("L40S", 91.6, 0.864),
        ("L4", 30.3, 0.3),
        ("T4", 8.1, 0.32),
        ("V100", 15.7, 0.9),
    ];

    /// <summary>The data sheet's peaks for a GPU whose name holds one of <see cref="DataSheets"/>' names as a word
    /// ("NVIDIA H200", "Tesla T4"), or null.</summary>
    public static GpuPeaks? FromDataSheet(string gpuName)
    {
        foreach (var (name, fp32, memory) in DataSheets)
        {
            if (Regex.IsMatch(gpuName, $@"(^|[^A-Za-z0-9]){Regex.Escape(name)}([^A-Za-z0-9]|$)", RegexOptions.IgnoreCase))
                return new GpuPeaks(fp32, memory, $"{name} data sheet (boost clock; SXM for data-centre parts), an assumption: other forms and clocks differ");
        }
        return null;
    }

    /// <summary>FP32 lanes (CUDA cores) per multiprocessor of a compute capability, from NVIDIA's tables; 0 when not known.</summary>
    public static int Fp32LanesPerMultiprocessor(int major, int minor) => (major, minor) switch
    {
        (5, _) => 128,
        (6, 0) => 64,
        (6, _) => 128,
        (7, _) => 64,             // Volta, Turing
        (8, 0) => 64,             // A100
        (8, _) => 128,            // Ampere consumer parts, Ada
        (9, 0) => 128,            // Hopper
        (>= 10, _) => 128,        // Blackwell
        _ => 0,
    };

    /// <summary>Peaks from a CUDA device's properties: clocks in kHz (as CUDA reports them), bus width in bits.</summary>
    /// <returns>null when the compute capability's lane count is not known or a property is missing.</returns>
    public static GpuPeaks? FromProperties(int major, int minor, int multiprocessors, int clockKHz, int memoryClockKHz, int busWidthBits)
    {
        int lanes = Fp32LanesPerMultiprocessor(major, minor);
        if (lanes == 0 || multiprocessors <= 0 || clockKHz <= 0 || memoryClockKHz <= 0 || busWidthBits <= 0)
            return null;
        double fp32 = multiprocessors * (double)lanes * 2 * clockKHz * 1e3 / 1e12;
        double memory = 2.0 * memoryClockKHz * 1e3 * (busWidthBits / 8.0) / 1e12;
        return new GpuPeaks(fp32, memory, string.Create(CultureInfo.InvariantCulture,
            $"device properties: {multiprocessors} multiprocessors × {lanes} FP32 lanes × 2 × {clockKHz / 1e6:0.###} GHz; {busWidthBits}-bit memory bus × 2 × {memoryClockKHz / 1e6:0.###} GHz"));
    }

    /// <summary>The peaks of an open device: a CUDA device's from its properties; null for other kinds.</summary>
    public static GpuPeaks? FromDevice(ComputeDevice device) => device.Accelerator is CudaAccelerator cuda
        ? FromProperties(cuda.Architecture.Major, cuda.Architecture.Minor, cuda.NumMultiprocessors, cuda.ClockRate, cuda.MemoryClockRate, cuda.MemoryBusWidth)
        : null;

    /// <summary>`AttentionWise.Bench device-peaks`: the peaks of the device AW_DEVICE names, as the lines of gpu-check's
    /// env.tsv (key, tab, value): peak_fp32_tflops, peak_memory_tbs, peak_source. Prints nothing for a device whose
    /// peaks are not known from its properties.</summary>
    public static int Run(string[] args)
    {
        if (args.Length > 0)
        {
            Console.Error.WriteLine($"device-peaks: takes no arguments (AW_DEVICE names the device), not '{args[0]}'");
            return 2;
        }
        using var device = ComputeDevice.Open(Environment.GetEnvironmentVariable("AW_DEVICE"));
        if (FromDevice(device) is { } peaks)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"peak_fp32_tflops\t{peaks.Fp32Tflops:0.###}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"peak_memory_tbs\t{peaks.MemoryTbs:0.###}"));
            Console.WriteLine($"peak_source\t{peaks.Source}");
        }
        return 0;
    }
}
