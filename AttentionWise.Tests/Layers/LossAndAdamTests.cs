using AttentionWise.Layers;
using AttentionWise.Tests.Infrastructure;
using AttentionWise.Tests.Reference;

namespace AttentionWise.Tests.Layers;

/// <summary>LogSoftmaxNllLoss and Adam on each accelerator against the float64 references.</summary>
public abstract class LossAndAdamSuite : DeviceTest
{
    [Theory]
    [InlineData(7, 10)]
    [InlineData(1, 3)]
    [InlineData(33, 5)]
    public void LossValueCorrectCountAndGradientMatchReference(int n, int k)
    {
        var logits = Numerics.Uniform(70, n * k, -4f, 4f);
        var rng = new Random(71);
        var labels = Enumerable.Range(0, n).Select(_ => rng.Next(k)).ToArray();
        // Make a few rows certainly right so the correct count is not 0.
        for (int i = 0; i < n; i += 3)
            logits[i * k + labels[i]] = 10f;
        using var loss = new LogSoftmaxNllLoss(Device);
        using var dl = Device.Upload(Shape.Of(n, k), logits);
        using var dy = DeviceIntTensor.Upload(Device, labels);
        loss.Forward(dl, dy);
        var (value, correct) = loss.Result();
        var rl = Numerics.ToDouble(logits);
        var (rv, rc) = LossReference.Forward(rl, labels, n, k);
        Assert.Equal(rc, correct);
        Assert.True(correct > 0);
        Assert.Equal(rv, value, 1e-5 + 1e-5 * rv);
        Numerics.AssertClose(loss.LogProbabilities.Download(), LossReference.LogSoftmax(rl, n, k), 1e-5, 1e-5, "log-probabilities", Shape.Of(n, k));
        var g = loss.Backward();
        Numerics.Poison(g);
        g = loss.Backward();
        Numerics.AssertClose(g.Download(), LossReference.Backward(rl, labels, n, k), 1e-7, 1e-5, "loss gradient", Shape.Of(n, k));
    }

    [Fact]
    public void UniformLogitsGiveLogTenAndALabelOutOfRangeGivesNaN()
    {
        using var loss = new LogSoftmaxNllLoss(Device);
        using var dl = Device.Zeros(Shape.Of(4, 10));
        using var dy = DeviceIntTensor.Upload(Device, [0, 3, 9, 5]);
        loss.Forward(dl, dy);
        Assert.Equal(Math.Log(10), loss.Result().Loss, 1e-6);
        dy.Upload([0, 3, 10, 5]);
        loss.Forward(dl, dy);
        Assert.True(float.IsNaN(loss.Result().Loss));
        dy.Upload([0, -1, 9, 5]);
        loss.Forward(dl, dy);
        Assert.True(float.IsNaN(loss.Result().Loss));
        Assert.All(loss.Backward().Download().AsSpan(10, 10).ToArray(), v => Assert.True(float.IsNaN(v)));
    }

    [Fact]
    public void AdamMatchesTheFloat64UpdateRuleWithTwoGroups()
    {
        using var a = new Parameter(Device, "a", Shape.Of(3, 5, 7));
        using var b = new Parameter(Device, "b", Shape.Of(13), group: Parameter.AttentionGroup);
        var pa = Numerics.ToDouble(Numerics.Uniform(80, a.Length));
        var pb = Numerics.ToDouble(Numerics.Uniform(81, b.Length));
        a.Value.Upload(Array.ConvertAll(pa, v => (float)v));
        b.Value.Upload(Array.ConvertAll(pb, v => (float)v));
        var rates = new Dictionary<string, float> { [Parameter.AttentionGroup] = 0.1f };
        using var adam = new Adam(Device, new[] { ("a", a), ("b", b) }, lr: 1e-3f, groupLearningRates: rates);
        Assert.Equal(1e-3f, adam.LearningRateOf(Parameter.DefaultGroup));
        Assert.Equal(0.1f, adam.LearningRateOf(Parameter.AttentionGroup));
        var ra = new AdamReference(a.Length, 1e-3);
        var rb = new AdamReference(b.Length, 0.1);
        for (int step = 0; step < 5; step++)
        {
            // Gradients of varied size and sign, including one that changes sign between steps.
            var ga = Numerics.Uniform(90 + step, a.Length, -2f, 2f);
            var gb = Numerics.Uniform(100 + step, b.Length, -0.01f, 0.01f);
            adam.ZeroGrad();
            Assert.All(a.Gradient.Download(), v => Assert.Equal(0f, v));
            a.Gradient.Upload(ga);
            b.Gradient.Upload(gb);
            adam.Step();
            ra.Step(pa, Numerics.ToDouble(ga));
            rb.Step(pb, Numerics.ToDouble(gb));
        }
        Assert.Equal(5, adam.StepCount);
        // Parameters move by about lr per step; float32 rounding of p itself dominates the error.
        Numerics.AssertClose(a.Value.Download(), pa, 1e-6, 1e-6, "Adam parameter (lr 1e-3)", a.Shape);
        Numerics.AssertClose(b.Value.Download(), pb, 1e-5, 1e-5, "Adam parameter (lr 0.1)", b.Shape);
        Assert.Equal(new[] { "a", "b" }, adam.State.Select(s => s.Name));
        Numerics.AssertClose(adam.State[0].M.Download(), ra.M, 1e-6, 1e-5, "Adam first moment");
        Numerics.AssertClose(adam.State[0].V.Download(), ra.V, 1e-7, 1e-5, "Adam second moment");
        Numerics.AssertClose(adam.State[1].V.Download(), rb.V, 1e-10, 1e-5, "Adam second moment (small gradients)");
    }

    /// <summary>Nine parameter tensors (two full batches of four on GPU-shaped devices and one of one), of sizes from 1 to
    /// 1,000 and one empty, in two learning-rate groups: ZeroGrad must clear every gradient, and each tensor must follow
    /// the float64 update rule, so that no tensor of a batch is skipped, updated twice, shifted into its neighbour or
    /// given another group's step size.</summary>
    [Fact]
    public void AdamUpdatesManyTensorsOfTwoGroups()
    {
        int[] sizes = [1000, 1, 72, 0, 7, 300, 2, 33, 5];
        var parameters = sizes.Select((n, i) => new Parameter(Device, $"p{i}", Shape.Of(n),
            group: i % 2 == 0 ? Parameter.DefaultGroup : Parameter.AttentionGroup)).ToList();
        try
        {
            var values = parameters.Select((p, i) => Numerics.ToDouble(Numerics.Uniform(200 + i, p.Length))).ToList();
            for (int i = 0; i < parameters.Count; i++)
                parameters[i].Value.Upload(Array.ConvertAll(values[i], v => (float)v));
            var rates = new Dictionary<string, float> { [Parameter.AttentionGroup] = 0.1f };
            using var adam = new Adam(Device, parameters.Select(p => (p.Name, p)), lr: 1e-3f, groupLearningRates: rates);
            var references = parameters.Select((p, i) => new AdamReference(p.Length, i % 2 == 0 ? 1e-3 : 0.1)).ToList();
            for (int step = 0; step < 3; step++)
            {
                // ZeroGrad clears every gradient of every batch (they hold the previous step's from step 1 on, and are
                // set to 1 first).
                foreach (var p in parameters)
                    p.Gradient.Upload(Enumerable.Repeat(1f, p.Length).ToArray());
                adam.ZeroGrad();
                for (int i = 0; i < parameters.Count; i++)
                    Assert.All(parameters[i].Gradient.Download(), v => Assert.Equal(0f, v));
                for (int i = 0; i < parameters.Count; i++)
                {
                    var g = Numerics.Uniform(300 + 10 * step + i, parameters[i].Length, -1f, 1f);
                    parameters[i].Gradient.Upload(g);
                    references[i].Step(values[i], Numerics.ToDouble(g));
                }
                adam.Step();
            }
            for (int i = 0; i < parameters.Count; i++)
            {
                double tol = i % 2 == 0 ? 1e-6 : 1e-5;
                Numerics.AssertClose(parameters[i].Value.Download(), values[i], tol, tol, $"tensor {i} of {sizes[i]} elements");
                Numerics.AssertClose(adam.State[i].M.Download(), references[i].M, 1e-6, 1e-5, $"tensor {i}: first moment");
            }
        }
        finally
        {
            foreach (var p in parameters)
                p.Dispose();
        }
    }

    [Fact]
    public void AdamResumedFromItsStateContinuesExactly()
    {
        using var p = new Parameter(Device, "w", Shape.Of(50));
        using var q = new Parameter(Device, "w", Shape.Of(50));
        p.Value.Upload(Numerics.Uniform(110, 50));
        using var first = new Adam(Device, new[] { ("w", p) });
        for (int step = 0; step < 3; step++)
        {
            p.Gradient.Upload(Numerics.Uniform(111 + step, 50));
            first.Step();
        }
        using var resumed = new Adam(Device, new[] { ("w", q) });
        q.Value.CopyFrom(p.Value);
        resumed.State[0].M.CopyFrom(first.State[0].M);
        resumed.State[0].V.CopyFrom(first.State[0].V);
        resumed.StepCount = first.StepCount;
        var g = Numerics.Uniform(120, 50);
        p.Gradient.Upload(g);
        q.Gradient.Upload(g);
        first.Step();
        resumed.Step();
        Assert.Equal(p.Value.Download(), q.Value.Download());
        Assert.Equal(4, resumed.StepCount);
    }
}

public sealed class LossAndAdamCpuTests : LossAndAdamSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

public sealed class LossAndAdamCpuSimTests : LossAndAdamSuite
{
    protected override DeviceKind Kind => DeviceKind.CpuSimulator;
}

public sealed class LossAndAdamCudaTests : LossAndAdamSuite
{
    protected override DeviceKind Kind => DeviceKind.Cuda;
}

public sealed class LossAndAdamOpenCLTests : LossAndAdamSuite
{
    protected override DeviceKind Kind => DeviceKind.OpenCL;
}
