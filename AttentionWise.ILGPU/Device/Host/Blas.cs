using System.Runtime.InteropServices;

namespace AttentionWise.Host;

/// <summary>
/// The BLAS the cpu device uses for its matrix products: OpenBLAS (Debian's libopenblas0-pthread, installed by
/// scripts/setup), loaded at run time with <see cref="NativeLibrary"/> under its name on each OS. Its own threads are
/// turned off (one thread per call): the host launcher owns the cores and runs several products at once, so the two
/// never oversubscribe them, and each product is computed the same way every time (the CPU path is deterministic).
/// When no BLAS can be loaded, <see cref="Available"/> is false, <see cref="Description"/> says why, and the cpu device
/// falls back to its plain kernels.
/// </summary>
public static unsafe class Blas
{
    private const int RowMajor = 101;
    private const int NoTrans = 111;
    private const int Trans = 112;

    private static readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemm;

    static Blas()
    {
        Description = "no BLAS: the cpu device uses its plain kernels";
        if (Environment.GetEnvironmentVariable("AW_BLAS") is "off" or "none" or "0")
        {
            Description = "no BLAS (AW_BLAS=off): the cpu device uses its plain kernels";
            return;
        }
        var tried = new List<string>();
        foreach (string name in CandidateNames())
        {
            if (!NativeLibrary.TryLoad(name, typeof(Blas).Assembly, null, out var handle))
            {
                tried.Add(name);
                continue;
            }
            if (!NativeLibrary.TryGetExport(handle, "cblas_sgemm", out var sgemm))
            {
                tried.Add($"{name} (no cblas_sgemm)");
                continue;
            }
            Sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm;
            string version = name;
            if (NativeLibrary.TryGetExport(handle, "openblas_set_num_threads", out var setThreads))
                ((delegate* unmanaged<int, void>)setThreads)(1);
            if (NativeLibrary.TryGetExport(handle, "openblas_get_config", out var config))
                version = Marshal.PtrToStringAnsi(((delegate* unmanaged<nint>)config)()) ?? name;
            Available = true;
            Description = $"BLAS: {version} (one thread per call; the host launcher runs the calls on {HostLauncher.Shared.Threads} threads)";
            return;
        }
        Description = $"no BLAS ({string.Join(", ", tried)} not found; Debian: apt-get install libopenblas0-pthread): the cpu device uses its plain kernels";
    }

    /// <summary>True when a BLAS was loaded.</summary>
    public static bool Available { get; }

    /// <summary>One line: which BLAS is used, or why none is.</summary>
    public static string Description { get; }

    private static IEnumerable<string> CandidateNames()
    {
        if (OperatingSystem.IsWindows())
            return ["libopenblas.dll", "openblas.dll"];
        if (OperatingSystem.IsMacOS())
            return ["libopenblas.0.dylib", "libopenblas.dylib", "/opt/homebrew/opt/openblas/lib/libopenblas.dylib", "/usr/local/opt/openblas/lib/libopenblas.dylib"];
        return ["libopenblas.so.0", "libopenblas.so", "libopenblasp.so.0"];
    }

    /// <summary>
    /// C = alpha·op(A)·op(B) + beta·C for row-major matrices: op(A) is M×K, op(B) is K×N, C is M×N; lda, ldb, ldc are
    /// the row strides of A, B and C as stored.
    /// </summary>
    public static void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb,
        float beta, float* c, int ldc)
    {
        if (!Available)
            throw new InvalidOperationException(Description);
        if (m <= 0 || n <= 0)
            return;
        Sgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
}
