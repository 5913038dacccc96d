using System.Reflection;

namespace AttentionWise.Tests.Kernels;

/// <summary>
/// Every kernel of every kernel set compiled by ILGPU's own PTX (sm_75, sm_90) and OpenCL C backends, on this
/// machine, with no GPU. The kernels come from the kernel sets themselves (recorded as they load), so a new kernel
/// is covered the day it is written. Set AW_KERNEL_DUMP=DIR to keep the code (DIR/sm_75/*.ptx, DIR/opencl/*.cl) for
/// ptxas or an OpenCL compiler. This proves a kernel compiles, not that the code is right: the OpenCL suite runs it.
/// </summary>
public sealed class KernelCompilationTests
{
    public static TheoryData<string> Targets() => new(CompileTarget.All.Select(t => t.Name));

    [Theory]
    [MemberData(nameof(Targets))]
    public void EveryKernelCompiles(string targetName)
    {
        var target = CompileTarget.Parse(targetName);
        var kernels = KernelCatalog.Kernels(target.Kind);
        Assert.NotEmpty(kernels);
        string? dump = Environment.GetEnvironmentVariable("AW_KERNEL_DUMP");
        string? folder = string.IsNullOrEmpty(dump) ? null : Directory.CreateDirectory(Path.Combine(dump, target.Name)).FullName;

        using var compiler = new KernelCompiler(target);
        var failures = new List<string>();
        foreach (var kernel in kernels)
        {
            try
            {
                string code = compiler.Compile(kernel);
                Assert.False(string.IsNullOrWhiteSpace(code), $"{kernel.Name}: ILGPU returned no code for {target.Name}.");
                if (folder is not null)
                    File.WriteAllText(Path.Combine(folder, compiler.FileName(kernel)), code);
            }
            catch (KernelCompileException e)
            {
                failures.Add(e.Message);
            }
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {kernels.Count} kernels do not compile for {target.Name}:\n" + string.Join("\n", failures));
    }

    /// <summary>Every OpenCL kernel with a group barrier fences local memory as well as global memory (ILGPU 1.5.3
    /// fences global memory only; docs/ilgpu-bugs.md, problem 4).</summary>
    [Fact]
    public void EveryOpenCLBarrierFencesLocalMemory()
    {
        using var compiler = new KernelCompiler(CompileTarget.OpenCL);
        var kernels = KernelCatalog.Kernels(DeviceKind.OpenCL);
        var grouped = kernels.Where(k => k.Grouping == KernelGrouping.Explicit).ToArray();
        Assert.NotEmpty(grouped);
        int fenced = 0;
        foreach (var kernel in kernels)
        {
            string code = compiler.Compile(kernel);
            Assert.True(OpenCLBarriers.UnfencedBarriers(code).Count == 0, $"{kernel.Name}: a barrier without the local fence.");
            if (OpenCLBarriers.CountBarriers(code) > 0)
            {
                Assert.Contains(OpenCLBarriers.Flags, code);
                fenced++;
            }
        }
        Assert.True(fenced > 0, "no OpenCL kernel has a barrier");
    }

    [Fact]
    public void TheFenceRewriteGivesEveryBarrierTheLocalFenceAndRefusesAnUnknownForm()
    {
        const string ilgpu = "x = 1;\n\t work_group_barrier ( CLK_GLOBAL_MEM_FENCE );\n\ty = barrier_count;\n\t work_group_barrier ( CLK_GLOBAL_MEM_FENCE );";
        string fenced = OpenCLBarriers.FenceLocalMemory(ilgpu);
        Assert.Equal(2, OpenCLBarriers.CountBarriers(fenced));
        Assert.Empty(OpenCLBarriers.UnfencedBarriers(fenced));
        Assert.Equal(2, fenced.Split(OpenCLBarriers.Flags).Length - 1);
        Assert.Contains("y = barrier_count;", fenced);
        Assert.Equal(fenced, OpenCLBarriers.FenceLocalMemory(fenced));
        Assert.Equal("no barrier here", OpenCLBarriers.FenceLocalMemory("no barrier here"));
        Assert.Single(OpenCLBarriers.UnfencedBarriers(ilgpu.Split('\n')[1]));
        var e = Assert.Throws<InvalidOperationException>(() => OpenCLBarriers.FenceLocalMemory("work_group_barrier(CLK_IMAGE_MEM_FENCE);"));
        Assert.Contains("CLK_IMAGE_MEM_FENCE", e.Message);
    }

    /// <summary>Each kernel set exposes its kernels as delegate properties (a variant for another kind of device stays null):
    /// every one it sets for a kind must have come through the loader (and so be in that kind's compile list).</summary>
    [Theory]
    [InlineData(DeviceKind.Cpu)]
    [InlineData(DeviceKind.CpuSimulator)]
    [InlineData(DeviceKind.Cuda)]
    [InlineData(DeviceKind.OpenCL)]
    public void TheCompileListHoldsEveryKernelTheSetsExpose(DeviceKind kind)
    {
        var sets = KernelCatalog.KernelSets(kind);
        Assert.NotEmpty(sets);
        var loader = KernelLoader.ForRecording(kind);
        foreach (var set in sets)
        {
            int before = loader.Loaded.Count;
            object instance = loader.LoadSet(set);
            int loaded = loader.Loaded.Count - before;
            int exposed = set.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Count(p => typeof(Delegate).IsAssignableFrom(p.PropertyType) && p.GetValue(instance) is not null);
            Assert.True(exposed > 0, $"{set.Name} exposes no kernel for {kind}.");
            Assert.True(loaded >= exposed, $"{set.Name} exposes {exposed} kernels for {kind} but loads only {loaded} through the loader.");
        }
        Assert.All(loader.Loaded, k => Assert.NotNull(k.KernelSet));
        Assert.Equal(KernelCatalog.Kernels(kind).Select(k => k.Name), loader.Loaded.Select(k => k.Name));
    }

    /// <summary>The same kernels a real device loads are the ones recorded for its kind.</summary>
    [Fact]
    public void TheCpuDeviceLoadsWhatTheCatalogRecords()
    {
        using var device = ComputeDevice.Open("cpu");
        foreach (var set in KernelCatalog.KernelSets(DeviceKind.Cpu))
            device.Loader.LoadSet(set);
        var real = device.Loader.Loaded.Select(k => k.Name).ToArray();
        var recorded = KernelCatalog.Kernels(DeviceKind.Cpu).Select(k => k.Name).ToArray();
        Assert.Equal(recorded, real);
    }

    [Fact]
    public void AnUnknownTargetNamesTheKnownOnes()
    {
        var e = Assert.Throws<ArgumentException>(() => CompileTarget.Parse("sm_13"));
        Assert.Contains("sm_75", e.Message);
        Assert.Contains("opencl", e.Message);
    }

    [Fact]
    public void TheProjectDefinesNothingInIlgpusNamespaces()
    {
        var assemblies = new[] { typeof(ComputeDevice).Assembly, typeof(AttentionWise.Tool.Program).Assembly, typeof(KernelCompilationTests).Assembly };
        var inIlgpu = assemblies.SelectMany(a => a.GetTypes()).Where(t => t.Namespace is { } ns && (ns == "ILGPU" || ns.StartsWith("ILGPU.", StringComparison.Ordinal))).ToArray();
        Assert.Empty(inIlgpu);
        Assert.Equal("ILGPU", typeof(ILGPU.Context).Assembly.GetName().Name);
    }
}
