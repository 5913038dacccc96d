using AttentionWise.Layers;
using AttentionWise.Tests.Infrastructure;
using AttentionWise.Tests.Reference;

namespace AttentionWise.Tests.Layers;

/// <summary>y = factor·x into a module-owned tensor: a stand-in for a stage's conv, to test the DIA chain alone.</summary>
internal sealed class ScaleModule(ComputeDevice device, float factor) : Module(device)
{
    private DeviceTensor? _y, _g;

    public override Shape OutputShape(Shape input) => input;

    public override DeviceTensor Forward(DeviceTensor input)
    {
        var y = Scratch(ref _y, input.Shape);
        Elementwise.Scale(input, factor, y);
        return y;
    }

    public override DeviceTensor? Backward(DeviceTensor gradOutput)
    {
        if (!ComputeInputGradient)
            return null;
        var g = Scratch(ref _g, gradOutput.Shape);
        Elementwise.Scale(gradOutput, factor, g);
        return g;
    }
}

/// <summary>DIA shared attention (unit parameters, stage forward and backpropagation through depth), per
/// accelerator, against the float64 reference.</summary>
public abstract class DiaSuite : DeviceTest
{
    private const double Atol = 2e-5, Rtol = 2e-4;

    private static void Upload(DiaUnit unit, DiaParams p)
    {
        var parameters = unit.Parameters().ToList();
        Assert.Equal(8, parameters.Count);
        for (int i = 0; i < 8; i++)
            parameters[i].Value.Upload(Array.ConvertAll(p.All[i], v => (float)v));
    }

    private static DiaParams AsFloat(DiaParams p)
    {
        var q = p.Zeros();
        for (int i = 0; i < 8; i++)
            q.All[i] = Numerics.ToDouble(Array.ConvertAll(p.All[i], v => (float)v));
        return q;
    }

    private static void AssertUnitGradients(DiaUnit unit, DiaParams expected, string what)
    {
        var named = unit.NamedParameters().ToList();
        for (int i = 0; i < 8; i++)
            Numerics.AssertClose(named[i].Parameter.Gradient.Download(), expected.All[i], Atol, Rtol, $"{what}: dL/d{named[i].Name}");
    }

    [Fact]
    public void StageChainMatchesReference()
    {
        // Three uses of one unit (batch 3, C = 8, r = 4, 5×7 maps); the modules only scale, so this tests the DIA chain.
        const int n = 3, c = 8, h = 5, w = 7;
        var p = AsFloat(DiaReferenceTests.RandomParams(c, c / 4, 200));
        float[] factors = [1.5f, 0.8f, 1.2f];
        using var stage = new DiaStage(Device, c, factors.Select((f, i) => ($"m{i}", (Module)new ScaleModule(Device, f))).ToList());
        Upload(stage.Unit, p);
        var x = Numerics.UniformAwayFromZero(201, n * c * h * w);
        var gOut = Numerics.Uniform(202, x.Length);
        using var dx = Device.Upload(Shape.Of(n, c, h, w), x);
        using var dg = Device.Upload(dx.Shape, gOut);

        var y = stage.Forward(dx);
        stage.Backward(dg);
        Numerics.Poison(y);
        stage.ZeroGrad();
        y = stage.Forward(dx);
        var gx = stage.Backward(dg)!;

        IReferenceModule[] modules = factors.Select(f => (IReferenceModule)new ReferenceScale(f)).ToArray();
        var (ry, cache) = DiaReference.StageForward(p, n, modules, Numerics.ToDouble(x), _ => h * w);
        var grads = p.Zeros();
        var rgx = DiaReference.StageBackward(p, n, modules, cache, Numerics.ToDouble(gOut), _ => h * w, grads);
        Numerics.AssertClose(y.Download(), ry, Atol, Rtol, "stage output", dx.Shape);
        for (int t = 0; t < 3; t++)
            Numerics.AssertClose(stage.Mask(t)!.Download(), cache.Steps[t].H, 1e-6, 1e-5, $"mask h after use {t}");
        Numerics.AssertClose(gx.Download(), rgx, Atol, Rtol, "dL/dx", dx.Shape);
        AssertUnitGradients(stage.Unit, grads, "chain");
        Assert.True(grads.Hh1W.Max(Math.Abs) > 1e-4, "the h-to-h branch is exercised");
    }

    [Fact]
    public void StageWithConvolutionsMatchesReference()
    {
        // conv 3 → 8 (3×3, pad 1) then conv 8 → 8 (2×2, stride 2, no bias): the second use has a smaller map.
        const int n = 3, ci = 3, c = 8, h = 6, w = 8;
        var p = AsFloat(DiaReferenceTests.RandomParams(c, 2, 300));
        var conv1 = new Conv2d(Device, ci, c, 3, 1, 1);
        var conv2 = new Conv2d(Device, c, c, 2, 2, 0, bias: false);
        using var stage = new DiaStage(Device, c, [("conv1", conv1), ("conv2", conv2)]);
        Upload(stage.Unit, p);
        var r1 = new Conv2dReference(n, ci, c, h, w, 3, 3, 1, 1, 1, 1);
        var r2 = new Conv2dReference(n, c, c, h, w, 2, 2, 2, 2, 0, 0);
        var w1 = Numerics.Uniform(301, r1.WeightLength, -0.4f, 0.4f);
        var b1 = Numerics.Uniform(302, c, -0.2f, 0.2f);
        var w2 = Numerics.Uniform(303, r2.WeightLength, -0.4f, 0.4f);
        conv1.Weight.Value.Upload(w1);
        conv1.Bias!.Value.Upload(b1);
        conv2.Weight.Value.Upload(w2);
        var x = Numerics.Uniform(304, r1.InputLength);
        var gOut = Numerics.Uniform(305, r2.OutputLength);
        using var dx = Device.Upload(Shape.Of(n, ci, h, w), x);
        using var dg = Device.Upload(Shape.Of(n, c, h / 2, w / 2), gOut);
        stage.ZeroGrad();
        var y = stage.Forward(dx);
        var gx = stage.Backward(dg)!;

        var c1 = new ReferenceConv(r1, Numerics.ToDouble(w1), Numerics.ToDouble(b1));
        var c2 = new ReferenceConv(r2, Numerics.ToDouble(w2), null);
        IReferenceModule[] modules = [c1, c2];
        int PlaneOf(int t) => t == 0 ? h * w : (h / 2) * (w / 2);
        var (ry, cache) = DiaReference.StageForward(p, n, modules, Numerics.ToDouble(x), PlaneOf);
        var grads = p.Zeros();
        var rgx = DiaReference.StageBackward(p, n, modules, cache, Numerics.ToDouble(gOut), PlaneOf, grads);
        Numerics.AssertClose(y.Download(), ry, Atol, Rtol, "stage output");
        Numerics.AssertClose(gx.Download(), rgx, Atol, Rtol, "dL/dx", dx.Shape);
        Numerics.AssertClose(conv1.Weight.Gradient.Download(), c1.GW, Atol, Rtol, "dL/dconv1.weight");
        Numerics.AssertClose(conv1.Bias.Gradient.Download(), c1.GB!, Atol, Rtol, "dL/dconv1.bias");
        Numerics.AssertClose(conv2.Weight.Gradient.Download(), c2.GW, Atol, Rtol, "dL/dconv2.weight");
        AssertUnitGradients(stage.Unit, grads, "with convolutions");
        Assert.Equal(new[] { "conv1.weight", "conv1.bias", "conv2.weight", "dia.ih1.weight" }, stage.NamedParameters().Take(4).Select(q => q.Name).ToArray());
    }

    [Fact]
    public void BackwardTwiceDoublesTheUnitGradients()
    {
        const int n = 3, c = 4, h = 5, w = 7;
        var p = AsFloat(DiaReferenceTests.RandomParams(c, 1, 400));
        // Keep both branches' hidden units active, so that every parameter gets a gradient.
        Array.Fill(p.Ih1B, 0.5);
        Array.Fill(p.Hh1B, 0.5);
        using var stage = new DiaStage(Device, c, [("a", new ScaleModule(Device, 1.3f)), ("b", new ScaleModule(Device, 0.9f))]);
        Upload(stage.Unit, p);
        using var dx = Device.Upload(Shape.Of(n, c, h, w), Numerics.UniformAwayFromZero(401, n * c * h * w));
        using var dg = Device.Upload(dx.Shape, Numerics.Uniform(402, n * c * h * w));
        stage.Forward(dx);
        stage.ZeroGrad();
        stage.Backward(dg);
        var once = stage.Unit.Parameters().Select(q => q.Gradient.Download()).ToList();
        stage.Backward(dg);
        var twice = stage.Unit.Parameters().Select(q => q.Gradient.Download()).ToList();
        for (int i = 0; i < once.Count; i++)
        {
            Assert.Contains(once[i], v => Math.Abs(v) > 1e-6);
            Numerics.AssertClose(twice[i], once[i].Select(v => 2.0 * v).ToArray(), 1e-7, 1e-5, $"unit parameter {i} after two backwards");
        }
    }

    [Fact]
    public void NaNInTheFeaturesStaysNaNThroughTheScaledRelu()
    {
        // A NaN feature must reach the output on every device, so that a diverging run is seen (XMath.Max would
        // turn it into 0 on OpenCL and CUDA).
        const int n = 2, c = 4, h = 3, w = 5;
        var p = AsFloat(DiaReferenceTests.RandomParams(c, 1, 500));
        using var stage = new DiaStage(Device, c, [("a", new ScaleModule(Device, 1.3f)), ("b", new ScaleModule(Device, 0.9f))]);
        Upload(stage.Unit, p);
        var x = Numerics.UniformAwayFromZero(501, n * c * h * w);
        x[7] = float.NaN;
        using var dx = Device.Upload(Shape.Of(n, c, h, w), x);
        var y = stage.Forward(dx).Download();
        Assert.True(float.IsNaN(y[7]), $"the NaN input element came out as {y[7]}");
        // The NaN also reaches the unit's pooled features, so the dense layers' ReLUs must pass it on: every
        // feature of image 0 after the second use is then NaN (a ReLU that turns NaN into 0 hides it), and
        // image 1 stays finite.
        int plane = c * h * w;
        Assert.All(y.Take(plane), v => Assert.True(float.IsNaN(v), $"an element of image 0 came out as {v}, not NaN"));
        Assert.All(y.Skip(plane), v => Assert.True(float.IsFinite(v), $"an element of image 1 came out as {v}"));
    }

    [Theory]
    [InlineData(100, 25_850)]
    [InlineData(200, 101_700)]
    public void UnitHasTheSpecParameterCount(int channels, long count)
    {
        using var unit = new DiaUnit(Device, channels);
        Assert.Equal(count, unit.ParameterCount);
        Assert.Equal(count, DiaUnit.ExpectedParameterCount(channels));
        // 2·(5C²/r + (4 + 1/r)·C) at r = 4.
        Assert.Equal(2.0 * (5.0 * channels * channels / 4 + (4 + 0.25) * channels), count);
        Assert.Throws<NotSupportedException>(() => unit.Forward(Device.Zeros(Shape.Of(1, channels, 2, 2))));
    }
}

public sealed class DiaCpuTests : DiaSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

/// <summary>The cpu device with its BLAS path turned off: the dense layers as kernels.</summary>
public sealed class DiaCpuPlainKernelTests : DiaSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    protected override bool HostPasses => false;
}

public sealed class DiaCpuSimTests : DiaSuite
{
    protected override DeviceKind Kind => DeviceKind.CpuSimulator;
}

public sealed class DiaCudaTests : DiaSuite
{
    protected override DeviceKind Kind => DeviceKind.Cuda;
}

public sealed class DiaOpenCLTests : DiaSuite
{
    protected override DeviceKind Kind => DeviceKind.OpenCL;
}
