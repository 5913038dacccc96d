using AttentionWise.Layers;
using AttentionWise.Tests.Infrastructure;
using AttentionWise.Tests.Reference;
using AttentionWise.Training.Models;

namespace AttentionWise.Tests.Layers;

/// <summary>Whole models built from the core layers: the control model's parameter count (SPEC §1) and a tiny
/// model trained for a few Adam steps against a float64 trainer made of the references.</summary>
public abstract class ModelSuite : DeviceTest
{
    [Theory]
    [InlineData(1, 28, 28, 929_510)]
    [InlineData(3, 32, 32, 961_310)]
    public void ControlModelHasThePaperParameterCount(int channels, int h, int w, long count)
    {
        using var model = new ControlModel(Device, channels, h, w);
        Assert.Equal(count, model.ParameterCount);
        Assert.Equal(count, model.Spec.ParameterCount);
        Assert.Equal(Shape.Of(2, 10), model.OutputShape(Shape.Of(2, channels, h, w)));
        Assert.Equal("features.conv1.weight", model.NamedParameters().First().Name);
    }

    [Fact]
    public void TinyModelFollowsTheFloat64TrainerForFiveAdamSteps()
    {
        const int n = 3, ci = 2, h = 4, w = 6, c1 = 3, c2 = 4, classes = 5;
        var conv1 = new Conv2d(Device, ci, c1, 3, 1, 1);
        var conv2 = new Conv2d(Device, c1, c2, 2, 2, 0, bias: false);
        var linear = new Linear(Device, c2 * 2 * 3, classes);
        using var model = new Sequential(Device, conv1, new ReLU(Device), conv2, new ReLU(Device), linear);
        Init.Apply(model, new Rng(7), std: 0.3f);
        using var loss = new LogSoftmaxNllLoss(Device);
        using var adam = new Adam(Device, model.NamedParameters(), lr: 0.01f);

        var r1 = new Conv2dReference(n, ci, c1, h, w, 3, 3, 1, 1, 1, 1);
        var r2 = new Conv2dReference(n, c1, c2, h, w, 2, 2, 2, 2, 0, 0);
        var p = model.NamedParameters().Select(x => Numerics.ToDouble(x.Parameter.Value.Download())).ToArray(); // w1, b1, w2, lw, lb
        var opt = p.Select((v, i) => new AdamReference(v.Length, 0.01)).ToArray();

        var x = Numerics.Uniform(150, n * ci * h * w);
        var labels = new[] { 1, 4, 0 };
        using var dx = Device.Upload(Shape.Of(n, ci, h, w), x);
        using var dy = DeviceIntTensor.Upload(Device, labels);
        var rx = Numerics.ToDouble(x);
        for (int step = 0; step < 5; step++)
        {
            // Device.
            adam.ZeroGrad();
            loss.Forward(model.Forward(dx), dy);
            float deviceLoss = loss.Result().Loss;
            model.Backward(loss.Backward());
            adam.Step();

            // Float64.
            var a1 = r1.Forward(rx, p[0], p[1]);
            var z1 = ElementwiseReference.Relu(a1);
            var a2 = r2.Forward(z1, p[2], null);
            var z2 = ElementwiseReference.Relu(a2);
            var logits = LinearReference.Forward(z2, p[3], p[4], n, c2 * 6, classes);
            double refLoss = LossReference.Forward(logits, labels, n, classes).Loss;
            var gl = LossReference.Backward(logits, labels, n, classes);
            var (gz2, glw, glb) = LinearReference.Backward(z2, p[3], gl, n, c2 * 6, classes);
            var ga2 = ElementwiseReference.ReluBackward(a2, gz2);
            var (gz1, gw2, _) = r2.Backward(z1, p[2], ga2);
            var ga1 = ElementwiseReference.ReluBackward(a1, gz1);
            var (_, gw1, gb1) = r1.Backward(rx, p[0], ga1);
            var grads = new[] { gw1, gb1, gw2, glw, glb };
            for (int i = 0; i < p.Length; i++)
                opt[i].Step(p[i], grads[i]);

            Assert.True(Math.Abs(deviceLoss - refLoss) <= 1e-5 + 1e-5 * refLoss, $"step {step}: device loss {deviceLoss:G9}, float64 loss {refLoss:G9}");
        }
        var names = model.NamedParameters().ToList();
        for (int i = 0; i < p.Length; i++)
            Numerics.AssertClose(names[i].Parameter.Value.Download(), p[i], 1e-4, 1e-4, $"{names[i].Name} after 5 steps");
    }
}

public sealed class ModelCpuTests : ModelSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

public sealed class ModelCpuSimTests : ModelSuite
{
    protected override DeviceKind Kind => DeviceKind.CpuSimulator;
}

public sealed class ModelCudaTests : ModelSuite
{
    protected override DeviceKind Kind => DeviceKind.Cuda;
}

public sealed class ModelOpenCLTests : ModelSuite
{
    protected override DeviceKind Kind => DeviceKind.OpenCL;
}
