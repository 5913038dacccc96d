using AttentionWise.Host;
using AttentionWise.Layers;
using AttentionWise.Tests.Infrastructure;
using AttentionWise.Tests.Reference;

namespace AttentionWise.Tests.Layers;

/// <summary>A whole attention layer (heads, conv, skip, post-conv batchnorm, ReLU), per accelerator, against the
/// float64 reference, with its visualisation tensors.</summary>
public abstract class AttentionLayerSuite : DeviceTest
{
    private const double Atol = 5e-5, Rtol = 5e-4;

    /// <summary>Odd sizes: batch 3, 3 heads, 3 channels, 5×7 images.</summary>
    private static readonly HeadsShape Odd = new(3, 3, 3, 5, 7);

    private AttentionLayer Make(HeadsShape s, AttentionLayerParams p, bool skip)
    {
        var layer = new AttentionLayer(Device, s.C, s.H, s.W, s.K, postConvBatchNorm: p.BnGamma is not null, skip: skip, headBias: p.Bx is not null);
        var parameters = layer.Parameters().ToList();
        Assert.Equal(p.All.Count, parameters.Count);
        for (int i = 0; i < parameters.Count; i++)
            parameters[i].Value.Upload(Array.ConvertAll(p.All[i], v => (float)v));
        return layer;
    }

    private static AttentionLayerParams AsFloat(AttentionLayerParams p) => p.All.Select((a, i) => (a, i))
        .Aggregate(p, (acc, t) => acc.With(t.i, Numerics.ToDouble(Array.ConvertAll(t.a, v => (float)v))));

    [Theory]
    [InlineData(true, false, false)]
    [InlineData(true, true, false)]
    [InlineData(false, false, true)]
    [InlineData(true, true, true)]
    public void LayerMatchesReference(bool skip, bool bn, bool bias)
    {
        var s = Odd;
        var p = AsFloat(AttentionLayerReferenceTests.RandomParams(s, bias, bn, 60));
        var x = Numerics.Uniform(70, s.InputLength);
        var gOut = Numerics.Uniform(71, s.InputLength);
        using var layer = Make(s, p, skip);
        using var dx = Device.Upload(Shape.Of(s.N, s.C, s.H, s.W), x);
        using var dg = Device.Upload(dx.Shape, gOut);

        var output = layer.Forward(dx);
        layer.Backward(dg);
        // Again with every output poisoned, and gradients zeroed.
        Numerics.Poison(output);
        Numerics.Poison(layer.HeadOutputs!);
        Numerics.Poison(layer.Heads.Softmaxes!);
        layer.ZeroGrad();
        output = layer.Forward(dx);
        var gx = layer.Backward(dg)!;

        var rx = Numerics.ToDouble(x);
        var k = AttentionLayerReference.Forward(s, p, rx, skip);
        var (rgx, rgrads) = AttentionLayerReference.Backward(s, p, rx, skip, k, Numerics.ToDouble(gOut));
        Numerics.AssertClose(output.Download(), k.Out, Atol, Rtol, "layer output", dx.Shape);
        Numerics.AssertClose(layer.Output!.Download(), k.Out, Atol, Rtol, "Final Output");
        Numerics.AssertClose(layer.HeadOutputs!.Download(), k.Heads.Z, Atol, Rtol, "Before Conv (head outputs)");
        Numerics.AssertClose(layer.PreNormOutput!.Download(), k.PreNorm, Atol, Rtol, "Before Norm");
        if (bn)
            Numerics.AssertClose(layer.NormOutput!.Download(), k.PreRelu, Atol, Rtol, "After Norm");
        else
            Assert.Null(layer.NormOutput);
        Numerics.AssertClose(layer.Relevance().Download(), k.Heads.R, 1e-7, 1e-5, "relevance Ox ⊙ Oy");
        Numerics.AssertClose(gx.Download(), rgx, Atol, Rtol, "dL/dX", dx.Shape);
        var named = layer.NamedParameters().ToList();
        for (int i = 0; i < named.Count; i++)
            Numerics.AssertClose(named[i].Parameter.Gradient.Download(), rgrads[i], Atol, Rtol, $"dL/d{named[i].Name}");
    }

    [Fact]
    public void ConvOutputIsTheConvolutionBeforeTheSkip()
    {
        var s = Odd;
        var p = AsFloat(AttentionLayerReferenceTests.RandomParams(s, false, false, 80));
        var x = Numerics.Uniform(81, s.InputLength);
        using var layer = Make(s, p, skip: true);
        using var dx = Device.Upload(Shape.Of(s.N, s.C, s.H, s.W), x);
        layer.Forward(dx);
        var heads = AttentionReference.HeadsForward(s, Numerics.ToDouble(x), p.Wx, p.Wy, null, null, true, new double[s.Q], Enumerable.Repeat(1.0, s.Q).ToArray());
        var conv = AttentionLayerReference.Conv(s).Forward(heads.Z, p.ConvW, p.ConvB);
        Numerics.AssertClose(layer.ConvOutput!.Download(), conv, Atol, Rtol, "After Conv");
    }

    [Fact]
    public void BackwardTwiceDoublesEveryParameterGradient()
    {
        var s = Odd;
        var p = AsFloat(AttentionLayerReferenceTests.RandomParams(s, true, true, 90));
        using var layer = Make(s, p, skip: true);
        using var dx = Device.Upload(Shape.Of(s.N, s.C, s.H, s.W), Numerics.Uniform(91, s.InputLength));
        using var dg = Device.Upload(dx.Shape, Numerics.Uniform(92, s.InputLength));
        layer.Forward(dx);
        layer.ZeroGrad();
        layer.Backward(dg);
        var once = layer.Parameters().Select(q => q.Gradient.Download()).ToList();
        layer.Backward(dg);
        var twice = layer.Parameters().Select(q => q.Gradient.Download()).ToList();
        var names = layer.NamedParameters().Select(q => q.Name).ToList();
        Assert.Equal(8, once.Count);
        for (int i = 0; i < once.Count; i++)
        {
            // The conv bias is followed by the batchnorm, which cancels any per-channel constant: its gradient is 0.
            if (names[i] != "conv.bias")
                Assert.Contains(once[i], v => Math.Abs(v) > 1e-5);
            Numerics.AssertClose(twice[i], once[i].Select(v => 2.0 * v).ToArray(), 1e-6, 1e-5, $"parameter {i} after two backwards");
        }
    }

    [Fact]
    public void FirstLayerSkipsTheInputGradientButNotTheParameterGradients()
    {
        var s = Odd;
        var p = AsFloat(AttentionLayerReferenceTests.RandomParams(s, false, false, 100));
        var x = Numerics.Uniform(101, s.InputLength);
        var gOut = Numerics.Uniform(102, s.InputLength);
        using var layer = Make(s, p, skip: true);
        layer.ComputeInputGradient = false;
        using var dx = Device.Upload(Shape.Of(s.N, s.C, s.H, s.W), x);
        using var dg = Device.Upload(dx.Shape, gOut);
        layer.Forward(dx);
        Assert.Null(layer.Backward(dg));
        var k = AttentionLayerReference.Forward(s, p, Numerics.ToDouble(x), true);
        var (_, rgrads) = AttentionLayerReference.Backward(s, p, Numerics.ToDouble(x), true, k, Numerics.ToDouble(gOut));
        Numerics.AssertClose(layer.Heads.Wx.Gradient.Download(), rgrads[0], Atol, Rtol, "dL/dWx");
        Numerics.AssertClose(layer.Conv.Weight.Gradient.Download(), rgrads[2], Atol, Rtol, "dL/dconv.weight");
    }

    [Fact]
    public void EvaluationModeTreatsEachImageOnItsOwn()
    {
        // With running statistics (after one training forward), an image's output does not depend on the batch.
        var s = Odd;
        var p = AsFloat(AttentionLayerReferenceTests.RandomParams(s, false, true, 110));
        var x = Numerics.Uniform(111, s.InputLength);
        using var layer = Make(s, p, skip: true);
        using var dx = Device.Upload(Shape.Of(s.N, s.C, s.H, s.W), x);
        layer.Forward(dx);
        layer.Eval();
        var all = layer.Forward(dx).Download();
        using var one = Device.Upload(Shape.Of(1, s.C, s.H, s.W), x[..(s.C * s.Plane)]);
        var single = layer.Forward(one).Download();
        Numerics.AssertClose(single, all[..(s.C * s.Plane)], 1e-6, 1e-5, "image 0 alone vs in its batch (evaluation)");
        layer.Train();
        var trainAll = layer.Forward(dx).Download();
        var trainSingle = layer.Forward(one).Download();
        Assert.True(trainSingle.Zip(trainAll).Any(t => Math.Abs(t.First - t.Second) > 1e-4), "in training mode the batch statistics couple the images");
    }
}

public sealed class AttentionLayerCpuTests : AttentionLayerSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

/// <summary>The cpu device's vectorised host pass with Vector256 (AVX2) forced.</summary>
public sealed class AttentionLayerCpuV256Tests : AttentionLayerSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    protected override SimdWidth? Simd => SimdWidth.V256;
}

/// <summary>The cpu device's vectorised host pass with its scalar fallback forced.</summary>
public sealed class AttentionLayerCpuScalarTests : AttentionLayerSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    protected override SimdWidth? Simd => SimdWidth.Scalar;
}

/// <summary>The cpu device with its host passes off: the plain kernels.</summary>
public sealed class AttentionLayerCpuKernelTests : AttentionLayerSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    protected override bool HostPasses => false;
}

public sealed class AttentionLayerCpuSimTests : AttentionLayerSuite
{
    protected override DeviceKind Kind => DeviceKind.CpuSimulator;
}

public sealed class AttentionLayerCudaTests : AttentionLayerSuite
{
    protected override DeviceKind Kind => DeviceKind.Cuda;
}

public sealed class AttentionLayerOpenCLTests : AttentionLayerSuite
{
    protected override DeviceKind Kind => DeviceKind.OpenCL;
}
