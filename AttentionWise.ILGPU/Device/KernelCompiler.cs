using System.Reflection;
using BackendFamily = AttentionWise.Backends.BackendFamily;
using KernelFamilyAttribute = AttentionWise.Backends.KernelFamilyAttribute;
using AttentionWise.Kernels;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace AttentionWise;

/// <summary>Every kernel set of AttentionWise and the kernels each loads, found by reflection, so that a kernel is
/// covered by the compile checks the day it is written.</summary>
internal static class KernelCatalog
{
    /// <summary>Every kernel-set type (a class implementing <see cref="IKernelSet{TSelf}"/>) a device of
    /// <paramref name="kind"/> can load, from the given assemblies (default: AttentionWise's kernel library), by name: the
    /// sets of its backend family (<see cref="KernelFamilyAttribute"/>), and every set generic over its kernel view closed
    /// with the family's view (<see cref="HostView"/> or <see cref="DeviceView"/>).</summary>
    public static IReadOnlyList<Type> KernelSets(DeviceKind kind, params Assembly[] assemblies)
    {
        if (assemblies.Length == 0)
            assemblies = [typeof(KernelCatalog).Assembly];
        var family = AttentionWise.Backends.Backend.FamilyOf(kind);
        var view = family == BackendFamily.Host ? typeof(HostView) : typeof(DeviceView);
        var sets = new List<Type>();
        foreach (var type in assemblies.SelectMany(a => a.GetTypes()))
        {
            if (type is not { IsClass: true, IsAbstract: false } ||
                !type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IKernelSet<>)))
                continue;
            if (type.IsGenericTypeDefinition)
            {
                if (type.GetGenericArguments().Length != 1)
                    throw new InvalidOperationException($"Kernel set {type.Name} is generic over more than its kernel view.");
                sets.Add(type.MakeGenericType(view));
                continue;
            }
            var owner = type.GetCustomAttribute<KernelFamilyAttribute>();
            if (owner is null || owner.Family == family)
                sets.Add(type);
        }
        return sets.OrderBy(t => t.FullName, StringComparer.Ordinal).ToArray();
    }

    /// <summary>The kernels every kernel set loads for a device of <paramref name="kind"/> (the sets of its family),
    /// recorded without a device.</summary>
    public static IReadOnlyList<LoadedKernel> Kernels(DeviceKind kind, params Assembly[] assemblies)
    {
        var loader = KernelLoader.ForRecording(kind);
        foreach (var set in KernelSets(kind, assemblies))
            loader.LoadSet(set);
        return loader.Loaded;
    }
}

/// <summary>A GPU backend ILGPU compiles kernels for, with no device present.</summary>
/// <param name="Name">How it is named on the command line and in file names: sm_75, sm_90, opencl.</param>
/// <param name="Kind">The kind of device whose kernel variants it compiles.</param>
/// <param name="Extension">The file extension of its code: ptx or cl.</param>
internal sealed record CompileTarget(string Name, DeviceKind Kind, string Extension, string Description)
{
    /// <summary>PTX for compute capability 7.5 (Tesla T4, Turing), PTX ISA 7.0 (CUDA 11.0).</summary>
    public static readonly CompileTarget Sm75 = new("sm_75", DeviceKind.Cuda, "ptx", "PTX ISA 7.0 for sm_75 (Turing: Tesla T4)");

    /// <summary>PTX for compute capability 9.0 (H100, H200: Hopper), PTX ISA 7.8 (CUDA 12.0).</summary>
    public static readonly CompileTarget Sm90 = new("sm_90", DeviceKind.Cuda, "ptx", "PTX ISA 7.8 for sm_90 (Hopper: H100, H200)");

    /// <summary>OpenCL C 2.0 with the generic address space, without fp16, fp64, 64-bit atomics or sub-groups.</summary>
    public static readonly CompileTarget OpenCL = new("opencl", DeviceKind.OpenCL, "cl", "OpenCL C 2.0 (generic address space; no fp64, fp16, int64 atomics or sub-groups)");

    public static IReadOnlyList<CompileTarget> All { get; } = [Sm75, Sm90, OpenCL];

    /// <summary>The target of that name.</summary>
    /// <exception cref="ArgumentException">No target has that name; the message lists them.</exception>
    public static CompileTarget Parse(string name) =>
        All.FirstOrDefault(t => string.Equals(t.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown compile target '{name}': use {string.Join(", ", All.Select(t => t.Name))}.", nameof(name));

    public override string ToString() => Name;
}

/// <summary>A kernel ILGPU could not compile for a target: names the kernel, the target and ILGPU's message.</summary>
internal sealed class KernelCompileException : Exception
{
    public KernelCompileException(LoadedKernel kernel, CompileTarget target, Exception inner)
        : base($"ILGPU cannot compile kernel {kernel.Name} for {target.Name}: {Describe(inner)}", inner)
    {
        Kernel = kernel;
        Target = target;
    }

    public LoadedKernel Kernel { get; }
    public CompileTarget Target { get; }

    private static string Describe(Exception e)
    {
        var parts = new List<string>();
        for (var x = e; x is not null; x = x.InnerException)
            parts.Add($"{x.GetType().Name}: {x.Message}");
        return string.Join(" <- ", parts);
    }
}

/// <summary>
/// Compiles kernels with ILGPU's own backends (IL → ILGPU IR → PTX or OpenCL C) through ILGPU's public backend API,
/// on any machine: no GPU, driver or OpenCL runtime is needed. What it catches: constructs ILGPU cannot compile.
/// What it cannot catch: code ILGPU compiles wrongly (only running the code does, see the OpenCL suite).
/// </summary>
internal sealed class KernelCompiler : IDisposable
{
    private readonly Context _context;
    private readonly Backend _backend;

    public KernelCompiler(CompileTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        Target = target;
        _context = Context.Create(builder => builder.Default().EnableAlgorithms());
        try
        {
            _backend = target.Name switch
            {
                "sm_75" => Ptx(CudaArchitecture.SM_75, CudaInstructionSet.ISA_70),
                "sm_90" => Ptx(CudaArchitecture.SM_90, CudaInstructionSet.ISA_78),
                "opencl" => new CLBackend(_context,
                    new CLCapabilityContext(float16: false, float64: false, genericAddressSpace: true, int64_Atomics: false, subGroups: false),
                    CLDeviceVendor.Other, CLCVersion.CL20),
                _ => throw new ArgumentException($"No backend for target {target.Name}.", nameof(target)),
            };
        }
        catch
        {
            _context.Dispose();
            throw;
        }
    }

    public CompileTarget Target { get; }

    private PTXBackend Ptx(CudaArchitecture architecture, CudaInstructionSet isa) =>
        new(_context, new CudaCapabilityContext(architecture), architecture, isa, nvvmAPI: null);

    /// <summary>Compiles one kernel and returns its code (PTX assembly or OpenCL C source).</summary>
    /// <exception cref="KernelCompileException">ILGPU cannot compile it.</exception>
    public string Compile(LoadedKernel kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        try
        {
            var entry = kernel.Grouping == KernelGrouping.Explicit
                ? EntryPointDescription.FromExplicitlyGroupedKernel(kernel.Method)
                : EntryPointDescription.FromImplicitlyGroupedKernel(kernel.Method);
            var compiled = _backend.Compile(entry, new KernelSpecialization());
            return compiled switch
            {
                PTXCompiledKernel ptx => ptx.PTXAssembly,
                CLCompiledKernel cl => OpenCLBarriers.FenceLocalMemory(cl.Source),
                _ => throw new InvalidOperationException($"Unexpected compiled kernel type {compiled.GetType().Name}."),
            };
        }
        catch (Exception e) when (e is not KernelCompileException)
        {
            throw new KernelCompileException(kernel, Target, e);
        }
    }

    /// <summary>A file name for a kernel's code: Type.Method[_GenericArgs].ext, with only letters, digits, '.', '_'.</summary>
    public string FileName(LoadedKernel kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        return LaunchRecorder.KernelName(kernel.Method) + "." + Target.Extension;
    }

    public void Dispose()
    {
        _backend.Dispose();
        _context.Dispose();
    }
}
