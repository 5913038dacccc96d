using AttentionWise.Layers;
using AttentionWise.Tests.Infrastructure;

namespace AttentionWise.Tests.Device;

/// <summary>The launch interceptor at the kernel loader: what it sees, what a timer records, and that a device without
/// one launches the plain delegates.</summary>
public class KernelTimerTests
{
    /// <summary>Records every launch and runs it.</summary>
    private sealed class Listing : ILaunchInterceptor
    {
        public List<LaunchEvent> Seen { get; } = new();

        public void Intercept(LaunchEvent launch, Action run)
        {
            lock (Seen)
                Seen.Add(launch);
            run();
        }
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("cpu-sim")]
    public void TheInterceptorSeesEveryKernelAndTransferByNameAndTheResultsAreUnchanged(string kind)
    {
        var listing = new Listing();
        using var device = ComputeDevice.Open(kind, new DeviceOptions(HostPasses: false, Interceptor: listing));
        using var plain = ComputeDevice.Open(kind, new DeviceOptions(HostPasses: false));
        float[] Run(ComputeDevice d)
        {
            using var linear = new Linear(d, 12, 5);
            Init.Apply(linear, new Rng(3));
            using var x = d.Upload(Shape.Of(4, 12), Numerics.Uniform(9, 48));
            using var labels = DeviceIntTensor.Upload(d, [0, 4, 2, 1]);
            using var loss = new LogSoftmaxNllLoss(d);
            loss.Forward(linear.Forward(x), labels);
            loss.Result();
            linear.ZeroGrad();
            linear.Backward(loss.Backward());
            return linear.Parameters().SelectMany(p => p.Gradient.Download()).ToArray();
        }
        Assert.Equal(Run(plain), Run(device));
        var names = listing.Seen.Select(e => e.Name).ToList();
        Assert.Contains("LossKernels.Forward", names);
        Assert.Contains("LossKernels.Backward", names);
        Assert.Contains("DeviceTensor.Upload", names);
        Assert.Contains("DeviceIntTensor.Upload", names);
        Assert.Contains("DeviceTensor.Download", names);
        Assert.Contains("DeviceTensor.Zero", names);
        var forward = listing.Seen.First(e => e.Name == "LossKernels.Forward");
        Assert.Equal(LaunchKind.Kernel, forward.Kind);
        Assert.Equal(4, forward.Threads);
        Assert.Same(device.Loader, forward.Loader);
        Assert.All(listing.Seen.Where(e => e.Kind == LaunchKind.Kernel), e => Assert.NotNull(e.Kernel));
        Assert.Null(plain.Loader.Interceptor);
    }

    [Fact]
    public void TheTimerAttributesEachLaunchToItsKernelAndLayerAndTimesNestedLaunchesOnce()
    {
        var timer = new KernelTimer();
        using var device = ComputeDevice.Open("cpu", new DeviceOptions(HostPasses: false, Interceptor: timer));
        using var linear = new Linear(device, 12, 5);
        Init.Apply(linear, new Rng(3));
        using var x = device.Upload(Shape.Of(4, 12), Numerics.Uniform(9, 48));
        timer.Clear();
        linear.Forward(x);
        var launches = timer.Launches;
        Assert.NotEmpty(launches);
        Assert.All(launches, l => Assert.Equal("Linear.Forward", l.Layer));
        Assert.All(launches, l => Assert.True(l.Milliseconds >= 0));

        // A pass that launches a kernel inside it is timed once, as the pass.
        timer.Clear();
        using var y = device.Allocate(Shape.Of(4, 12));
        device.Loader.Pass("Outer.Pass", () => y.CopyFrom(x));
        Assert.Equal(["Outer.Pass"], timer.Launches.Select(l => l.Name));
        Assert.Equal(LaunchKind.HostPass, timer.Launches[0].Kind);
        Assert.Equal("", timer.Launches[0].Layer);

        // Off, it records nothing and the launches still run.
        timer.Clear();
        timer.Enabled = false;
        y.Zero();
        Assert.Empty(timer.Launches);
        Assert.All(y.Download(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void LaunchNamesDropGenericArgumentsAndArity()
    {
        var method = typeof(AttentionWise.Kernels.AdamKernels).GetMethod("Step")!.MakeGenericMethod(typeof(AttentionWise.Kernels.HostView));
        Assert.Equal("AdamKernels.Step", KernelLoader.LaunchName(method));
    }
}
