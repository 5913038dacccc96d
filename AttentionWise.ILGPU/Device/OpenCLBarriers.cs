using System.Reflection;
using System.Text.RegularExpressions;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Runtime;

namespace AttentionWise;

/// <summary>
/// Makes ILGPU's OpenCL group barriers fence local memory. ILGPU 1.5.3 writes every <c>Group.Barrier()</c> (and warp
/// barrier) as <c>work_group_barrier(CLK_GLOBAL_MEM_FENCE)</c>, which by the OpenCL specification orders global memory
/// only; the GPU variants exchange data through local (shared) memory between barriers, so a driver that honours the
/// flag exactly could let a read of local memory overtake the write before the barrier (docs/ilgpu-bugs.md, problem
/// 4). Every OpenCL kernel is compiled by ILGPU, its barriers are given
/// <c>CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE</c>, and the corrected source is loaded through ILGPU's public API
/// for compiled kernels.
/// </summary>
internal static partial class OpenCLBarriers
{
    /// <summary>The fence flags every barrier carries after <see cref="FenceLocalMemory"/>.</summary>
    public const string Flags = "CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE";

    // A barrier call whose only argument is the global fence, as ILGPU 1.5.3 writes it ("work_group_barrier (
    // CLK_GLOBAL_MEM_FENCE )"), and any barrier call at all, to check that none was missed.
    [GeneratedRegex(@"\b(work_group_barrier|sub_group_barrier|barrier)\s*\(\s*CLK_GLOBAL_MEM_FENCE\s*\)")]
    private static partial Regex GlobalOnlyBarrier();

    [GeneratedRegex(@"\b(work_group_barrier|sub_group_barrier|barrier)\s*\(([^()]*)\)")]
    private static partial Regex AnyBarrier();

    /// <summary>The OpenCL C source with every barrier fencing local and global memory.</summary>
    /// <exception cref="InvalidOperationException">A barrier call is written in a form this does not know (a newer ILGPU
    /// may write barriers differently): the source is not loaded rather than loaded unfenced.</exception>
    public static string FenceLocalMemory(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        string fenced = GlobalOnlyBarrier().Replace(source, m => $"{m.Groups[1].Value}({Flags})");
        var unfenced = UnfencedBarriers(fenced);
        if (unfenced.Count > 0)
        {
            throw new InvalidOperationException(
                $"OpenCL source has a barrier that does not fence local memory and is not in the form ILGPU 1.5.3 writes: '{unfenced[0]}'.");
        }
        return fenced;
    }

    /// <summary>Every barrier call of <paramref name="source"/> whose fence flags lack <c>CLK_LOCAL_MEM_FENCE</c>.</summary>
    public static IReadOnlyList<string> UnfencedBarriers(string source) =>
        AnyBarrier().Matches(source)
            .Where(m => !m.Groups[2].Value.Contains("CLK_LOCAL_MEM_FENCE", StringComparison.Ordinal))
            .Select(m => m.Value)
            .ToArray();

    /// <summary>The number of barrier calls in <paramref name="source"/>.</summary>
    public static int CountBarriers(string source) => AnyBarrier().Count(source);

    private static readonly PropertyInfo EntryPointProperty =
        typeof(CompiledKernel).GetProperty("EntryPoint", BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new InvalidOperationException("ILGPU's CompiledKernel has no EntryPoint property (not ILGPU 1.5.3?).");

    /// <summary>The same compiled kernel with its barriers fencing local memory.</summary>
    public static CLCompiledKernel Fence(CompiledKernel compiled)
    {
        if (compiled is not CLCompiledKernel cl)
            throw new ArgumentException($"Expected an OpenCL kernel, got {compiled.GetType().Name}.", nameof(compiled));
        // The entry point (the kernel's parameters as the launcher passes them) is the one ILGPU made for this kernel;
        // CompiledKernel exposes it internally only, so it is read through reflection, once per kernel load.
        if (EntryPointProperty.GetValue(cl) is not SeparateViewEntryPoint entry)
            throw new InvalidOperationException("ILGPU's OpenCL kernel has no separate-view entry point (not ILGPU 1.5.3?).");
        return new CLCompiledKernel(cl.Context, entry, cl.Info, FenceLocalMemory(cl.Source), cl.CVersion);
    }

    /// <summary>Compiles <paramref name="entry"/> for the OpenCL <paramref name="accelerator"/> and returns the kernel with
    /// fenced barriers, with its source.</summary>
    public static CLCompiledKernel Compile(Accelerator accelerator, in EntryPointDescription entry) =>
        Fence(accelerator.CompileKernel(entry));
}
