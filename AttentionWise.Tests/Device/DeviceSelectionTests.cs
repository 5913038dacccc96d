namespace AttentionWise.Tests.Device;

/// <summary>How a device is chosen from the machine's list.</summary>
public class DeviceSelectionTests
{
    private static readonly DeviceInfo Cpu = new(0, DeviceKind.Cpu, "Test CPU", 1L << 30);
    private static readonly DeviceInfo Cl = new(1, DeviceKind.OpenCL, "Test OpenCL GPU", 4L << 30);
    private static readonly DeviceInfo Cuda = new(2, DeviceKind.Cuda, "Test CUDA GPU", 8L << 30);

    [Fact]
    public void AutoPrefersCudaThenOpenCLThenCpu()
    {
        Assert.Equal(Cuda, ComputeDevice.Choose(new[] { Cpu, Cl, Cuda }, null));
        Assert.Equal(Cuda, ComputeDevice.Choose(new[] { Cpu, Cl, Cuda }, "auto"));
        Assert.Equal(Cl, ComputeDevice.Choose(new[] { Cpu, Cl }, "auto"));
        Assert.Equal(Cpu, ComputeDevice.Choose(new[] { Cpu }, "AUTO"));
    }

    [Fact]
    public void KindAndIndexPickTheNamedDevice()
    {
        var all = new[] { Cpu, Cl, Cuda };
        Assert.Equal(Cpu, ComputeDevice.Choose(all, "cpu"));
        Assert.Equal(Cl, ComputeDevice.Choose(all, "opencl"));
        Assert.Equal(Cuda, ComputeDevice.Choose(all, "cuda"));
        Assert.Equal(Cl, ComputeDevice.Choose(all, "1"));
    }

    [Fact]
    public void AMissingKindListsTheDevicesThatExist()
    {
        var e = Assert.Throws<DeviceNotFoundException>(() => ComputeDevice.Choose(new[] { Cpu }, "cuda"));
        Assert.Contains("No cuda device", e.Message);
        Assert.Contains("Test CPU", e.Message);
    }

    [Fact]
    public void AnUnknownNameOrIndexIsRejectedWithTheChoices()
    {
        var unknown = Assert.Throws<DeviceNotFoundException>(() => ComputeDevice.Choose(new[] { Cpu }, "tpu"));
        Assert.Contains("auto, cuda, opencl, cpu", unknown.Message);
        Assert.Contains("Test CPU", unknown.Message);
        var index = Assert.Throws<DeviceNotFoundException>(() => ComputeDevice.Choose(new[] { Cpu }, "7"));
        Assert.Contains("no device 7", index.Message);
    }

    [Fact]
    public void TheMachineAlwaysHasACpuDevice()
    {
        var list = ComputeDevice.List();
        Assert.Contains(list, d => d.Kind == DeviceKind.Cpu);
        Assert.Equal(Enumerable.Range(0, list.Count), list.Select(d => d.Index));
    }

    [Fact]
    public void OpeningAMissingKindFailsClearly()
    {
        var list = ComputeDevice.List();
        var missing = new[] { "cuda", "opencl" }.FirstOrDefault(k => !list.Any(d => d.KindName == k));
        if (missing is null)
            return; // both exist here: nothing is missing to open
        var e = Assert.Throws<DeviceNotFoundException>(() => ComputeDevice.Open(missing));
        Assert.Contains("Devices on this machine", e.Message);
    }
}
