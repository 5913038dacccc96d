using AttentionWise.Host;
using AttentionWise.Layers;
using AttentionWise.Tests.Infrastructure;
using AttentionWise.Tests.Reference;
using AttentionWise.Training.Models;

namespace AttentionWise.Tests.Layers;

/// <summary>The attention and DIA-control models: parameter counts (SPEC §2 "count by the formula", §3), names,
/// the gradient metric, and a tiny attention model trained for a few Adam steps against a float64 trainer.</summary>
public abstract class AttentionModelSuite : DeviceTest
{
    [Theory]
    [InlineData(1, 28, 28, 8, 2, true, 33_088)]     // A
    [InlineData(1, 28, 28, 8, 2, false, 33_084)]    // B
    [InlineData(1, 28, 28, 16, 2, true, 58_320)]    // C
    [InlineData(1, 28, 28, 16, 2, false, 58_316)]   // D
    [InlineData(1, 28, 28, 8, 4, true, 58_326)]     // E
    [InlineData(1, 28, 28, 8, 4, false, 58_318)]    // F
    [InlineData(1, 28, 28, 16, 4, true, 108_790)]   // G
    [InlineData(1, 28, 28, 16, 4, false, 108_782)]  // H
    [InlineData(3, 32, 32, 8, 4, false, 229_942)]   // CIFAR-10
    public void AttentionModelsHaveTheFormulaParameterCount(int c, int h, int w, int heads, int layers, bool bn, long count)
    {
        var options = new AttentionModelOptions(c, h, w, heads, layers, bn);
        using var model = new AttentionModel(Device, options);
        Assert.Equal(count, model.ParameterCount);
        Assert.Equal(count, options.FormulaParameterCount());
        Assert.Equal(Shape.Of(2, 10), model.OutputShape(Shape.Of(2, c, h, w)));
    }

    [Theory]
    [InlineData(1, 2, true, true, false)]
    [InlineData(8, 2, false, false, false)]
    [InlineData(8, 2, false, true, true)]
    public void VariantsHaveTheFormulaParameterCount(int heads, int layers, bool bn, bool skip, bool bias)
    {
        var options = new AttentionModelOptions(1, 28, 28, heads, layers, bn, skip, bias);
        using var model = new AttentionModel(Device, options);
        Assert.Equal(options.FormulaParameterCount(), model.ParameterCount);
        Assert.All(model.Layers, l => Assert.Equal(skip, l.Skip));
        Assert.All(model.Layers, l => Assert.Equal(bias, l.Heads.Bx is not null));
    }

    [Fact]
    public void ParameterNamesAreStableAndTheFirstWxIsHeadMajor()
    {
        using var model = new AttentionModel(Device, new AttentionModelOptions(3, 5, 7, 3, 2, true, HeadBias: true));
        var names = model.NamedParameters().Select(p => p.Name).ToList();
        Assert.Equal(AttentionModel.FirstWxName, names[0]);
        Assert.Equal(new[]
        {
            "layers.0.heads.wx", "layers.0.heads.wy", "layers.0.heads.bx", "layers.0.heads.by", "layers.0.conv.weight", "layers.0.conv.bias",
            "layers.0.bn.weight", "layers.0.bn.bias", "layers.1.heads.wx",
        }, names.Take(9).ToArray());
        Assert.Equal(new[] { "classifier.weight", "classifier.bias" }, names.TakeLast(2).ToArray());
        Assert.Same(model.NamedParameters().First().Parameter, model.FirstLayerWx);
        Assert.Equal(Shape.Of(3, 3, 5, 7), model.FirstLayerWx.Shape);
        Assert.Equal(3 * 5 * 7, model.HeadLength);
        Assert.All(model.NamedParameters().Where(p => p.Name.Contains(".heads.", StringComparison.Ordinal)),
            p => Assert.Equal(Parameter.AttentionGroup, p.Parameter.Group));
        Assert.All(model.NamedParameters().Where(p => !p.Name.Contains(".heads.", StringComparison.Ordinal)),
            p => Assert.Equal(Parameter.DefaultGroup, p.Parameter.Group));
        Assert.Contains(model.NamedBuffers(), b => b.Name == "layers.0.heads.running_var");
    }

    [Fact]
    public void FirstHeadGradientMeanAveragesHeadZeroOfLayerZero()
    {
        using var model = new AttentionModel(Device, new AttentionModelOptions(1, 4, 5, 3, 1, false));
        var g = Numerics.Uniform(500, model.FirstLayerWx.Length);
        model.FirstLayerWx.Gradient.Upload(g);
        double expected = g.Take(20).Select(v => (double)v).Average();
        Assert.Equal(expected, model.FirstHeadWxGradientMean(), 6);
        Assert.NotEqual(g.Average(), model.FirstHeadWxGradientMean(), 3);
    }

    [Fact]
    public void DiaControlModelHasTheSpecParameterCount()
    {
        using var model = new DiaControlModel(Device, 1, 28, 28);
        Assert.Equal(1_057_060, model.ParameterCount);
        Assert.Equal(25_850, model.Stage1.Unit.ParameterCount);
        Assert.Equal(101_700, model.Stage2.Unit.ParameterCount);
        Assert.Equal(Shape.Of(2, 10), model.OutputShape(Shape.Of(2, 1, 28, 28)));
        Assert.Equal("stage1.conv1.weight", model.NamedParameters().First().Name);
        Assert.Same(model.Conv1.Weight, model.NamedParameters().First().Parameter);
        Assert.Contains(model.NamedParameters(), p => p.Name == "stage2.dia.hh2.bias");
    }

    [Fact]
    public void TinyAttentionModelFollowsTheFloat64TrainerForThreeAdamSteps()
    {
        // Two layers (3 channels, 2 heads, 3×4 images) without post-conv batchnorm as in configuration B, classifier,
        // loss, Adam with the attention group at lr 0.05. (Before a batchnorm, the conv bias has an exactly zero
        // gradient, which Adam would turn into steps of float32 rounding noise: not comparable.)
        var s = new HeadsShape(4, 2, 3, 3, 4);
        const int classes = 5;
        using var model = new AttentionModel(Device, new AttentionModelOptions(s.C, s.H, s.W, s.K, 2, PostConvBatchNorm: false, Classes: classes));
        Init.Apply(model, new Rng(3), std: 0.5f);
        using var loss = new LogSoftmaxNllLoss(Device);
        var groups = new Dictionary<string, float> { [Parameter.AttentionGroup] = 0.05f };
        // eps 1e-4: Adam turns any tiny gradient into a full step, and a ReLU output that is exactly 0 in float32 but
        // 1e-9 in float64 gives such a gradient; with a larger eps only real gradients move the parameters.
        using var adam = new Adam(Device, model.NamedParameters(), lr: 0.01f, eps: 1e-4f, groupLearningRates: groups);

        var named = model.NamedParameters().ToList();
        var p = named.Select(q => Numerics.ToDouble(q.Parameter.Value.Download())).ToArray();
        var opt = named.Select((q, i) => new AdamReference(p[i].Length, q.Parameter.Group == Parameter.AttentionGroup ? 0.05 : 0.01, eps: 1e-4)).ToArray();
        var x = Numerics.Uniform(510, s.InputLength, 0f, 1f);
        var labels = new[] { 1, 4, 0, 2 };
        using var dx = Device.Upload(Shape.Of(s.N, s.C, s.H, s.W), x);
        using var dy = DeviceIntTensor.Upload(Device, labels);
        var rx = Numerics.ToDouble(x);
        const int perLayer = 4; // wx, wy, conv.weight, conv.bias
        for (int step = 0; step < 3; step++)
        {
            adam.ZeroGrad();
            loss.Forward(model.Forward(dx), dy);
            float deviceLoss = loss.Result().Loss;
            model.Backward(loss.Backward());
            adam.Step();

            var lp = Enumerable.Range(0, 2).Select(l => new AttentionLayerParams(p[l * perLayer], p[l * perLayer + 1], null, null,
                p[l * perLayer + 2], p[l * perLayer + 3], null, null)).ToArray();
            var k0 = AttentionLayerReference.Forward(s, lp[0], rx, true);
            var k1 = AttentionLayerReference.Forward(s, lp[1], k0.Out, true);
            int features = s.C * s.Plane;
            var logits = LinearReference.Forward(k1.Out, p[8], p[9], s.N, features, classes);
            double refLoss = LossReference.Forward(logits, labels, s.N, classes).Loss;
            var gl = LossReference.Backward(logits, labels, s.N, classes);
            var (g1, gw, gb) = LinearReference.Backward(k1.Out, p[8], gl, s.N, features, classes);
            var (g0, grads1) = AttentionLayerReference.Backward(s, lp[1], k0.Out, true, k1, g1);
            var (_, grads0) = AttentionLayerReference.Backward(s, lp[0], rx, true, k0, g0);
            var grads = grads0.Concat(grads1).Append(gw).Append(gb).ToArray();
            for (int i = 0; i < p.Length; i++)
                opt[i].Step(p[i], grads[i]);

            // Two softmaxes and two batch normalisations per layer amplify float32 rounding a little more than plain convs.
            Assert.True(Math.Abs(deviceLoss - refLoss) <= 1e-5 + 5e-5 * refLoss, $"step {step}: device loss {deviceLoss:G9}, float64 loss {refLoss:G9}");
        }
        for (int i = 0; i < p.Length; i++)
            Numerics.AssertClose(named[i].Parameter.Value.Download(), p[i], 2e-4, 2e-4, $"{named[i].Name} after 3 steps");
    }
}

public sealed class AttentionModelCpuTests : AttentionModelSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

/// <summary>The cpu device's vectorised host pass with Vector256 (AVX2) forced.</summary>
public sealed class AttentionModelCpuV256Tests : AttentionModelSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    protected override SimdWidth? Simd => SimdWidth.V256;
}

/// <summary>The cpu device's vectorised host pass with its scalar fallback forced.</summary>
public sealed class AttentionModelCpuScalarTests : AttentionModelSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    protected override SimdWidth? Simd => SimdWidth.Scalar;
}

/// <summary>The cpu device with its host passes off: the plain kernels.</summary>
public sealed class AttentionModelCpuKernelTests : AttentionModelSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    protected override bool HostPasses => false;
}

public sealed class AttentionModelCpuSimTests : AttentionModelSuite
{
    protected override DeviceKind Kind => DeviceKind.CpuSimulator;
}

public sealed class AttentionModelCudaTests : AttentionModelSuite
{
    protected override DeviceKind Kind => DeviceKind.Cuda;
}

public sealed class AttentionModelOpenCLTests : AttentionModelSuite
{
    protected override DeviceKind Kind => DeviceKind.OpenCL;
}
