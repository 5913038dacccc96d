using AttentionWise.Layers;
using AttentionWise.Tests.Infrastructure;
using AttentionWise.Training.Models;

namespace AttentionWise.Tests.Training;

/// <summary>The registry's models: parameter counts (SPEC §1–§3), output shapes and the gradient-metric parameter.</summary>
public class ModelTests
{
    private static ComputeDevice Cpu => TestDevices.Cpu;

    private static long Count(string name, int c, int h, int w, AttentionOverrides? overrides = null)
    {
        using var model = ModelRegistry.Create(Cpu, ModelRegistry.Configure(name, c, h, w, 10, overrides));
        return model.Network.ParameterCount;
    }

    [Theory]
    [InlineData("control", 1, 28, 28, 929_510)]
    [InlineData("control", 3, 32, 32, 961_310)]
    [InlineData("attention-a", 1, 28, 28, 33_088)]
    [InlineData("attention-b", 1, 28, 28, 33_084)]
    [InlineData("attention-c", 1, 28, 28, 58_320)]
    [InlineData("attention-d", 1, 28, 28, 58_316)]
    [InlineData("attention-e", 1, 28, 28, 58_326)]
    [InlineData("attention-f", 1, 28, 28, 58_318)]
    [InlineData("attention-g", 1, 28, 28, 108_790)]
    [InlineData("attention-h", 1, 28, 28, 108_782)]
    [InlineData("attention-cifar", 3, 32, 32, 229_942)]
    [InlineData("dia-control", 1, 28, 28, 1_057_060)]
    public void ParameterCountsMatchTheSpecification(string name, int c, int h, int w, long expected) =>
        Assert.Equal(expected, Count(name, c, h, w));

    [Fact]
    public void TheControlModelMapsImagesToLogitsAndExposesConv1()
    {
        using var model = ModelRegistry.Create(Cpu, ModelRegistry.Configure("control", 3, 8, 12));
        Init.Apply(model.Network, new Rng(3));
        var conv1 = model.Network.NamedParameters().First();
        Assert.Equal("features.conv1.weight", conv1.Name);
        Assert.Same(conv1.Parameter, model.FirstLayerWeight);
        Assert.Equal(Shape.Of(100, 3, 3, 3), model.FirstLayerWeight.Shape);
        Assert.Equal(Shape.Of(5, 10), model.Network.OutputShape(Shape.Of(5, 3, 8, 12)));
        // The classifier sees 200 × (8/4) × (12/4) features.
        Assert.Equal(Shape.Of(10, 200 * 2 * 3), model.Network.NamedParameters().Single(p => p.Name == "classifier.weight").Parameter.Shape);

        using var x = Cpu.Upload(Shape.Of(3, 3, 8, 12), Numerics.Uniform(4, 3 * 3 * 8 * 12, 0f, 1f));
        var logits = model.Network.Forward(x);
        Assert.Equal(Shape.Of(3, 10), logits.Shape);
        Assert.All(logits.Download(), v => Assert.True(float.IsFinite(v)));
        // Backward fills the first layer's gradient (and returns no input gradient).
        using var g = Cpu.Upload(Shape.Of(3, 10), Numerics.Uniform(5, 30));
        model.Network.ZeroGrad();
        Assert.Null(model.Network.Backward(g));
        Assert.Contains(model.FirstLayerWeight.Gradient.Download(), v => v != 0f);
    }

    [Fact]
    public void TheRegistryNamesEveryModelAndRejectsUnknownOnes()
    {
        Assert.Equal(
            new[] { "control", "attention-a", "attention-b", "attention-c", "attention-d", "attention-e", "attention-f", "attention-g", "attention-h", "attention-cifar", "dia-control" },
            ModelRegistry.Names);
        var e = Assert.Throws<ArgumentException>(() => ModelRegistry.Find("attention-z"));
        Assert.Contains("attention-h", e.Message);
        Assert.Equal(new AttentionOptions(16, 4, true), ModelRegistry.Find("attention-g").Attention);
        Assert.Equal(new AttentionOptions(8, 2, false), ModelRegistry.Find("ATTENTION-B").Attention);
        Assert.Equal(33_084, ModelRegistry.Find("attention-b").PaperCount("fashion-mnist"));
        Assert.Equal(506_560, ModelRegistry.Find("attention-cifar").PaperCount("cifar10"));
        Assert.Null(ModelRegistry.Find("dia-control").PaperCount("fashion-mnist"));

        var overridden = ModelRegistry.Configure("attention-b", 1, 28, 28, 10, new AttentionOverrides(Heads: 1, Skip: false, HeadBias: true));
        Assert.Equal(new AttentionOptions(1, 2, false, Skip: false, HeadBias: true), overridden.Attention);
        Assert.Throws<ArgumentException>(() => ModelRegistry.Configure("control", 1, 28, 28, 10, new AttentionOverrides(Layers: 3)));
        Assert.Equal(overridden, ModelConfig.FromJson(overridden.ToJson()));
    }

    [Fact]
    public void TheGradientMetricAveragesTheChosenPartOfTheFirstLayerWeight()
    {
        using var p = new Parameter(Cpu, "wx", Shape.Of(2, 3));
        p.Gradient.Upload([1f, 2f, 6f, 100f, 200f, 300f]);
        var config = ModelRegistry.Configure("control", 1, 4, 4);
        using var whole = new TrainableModel(config, new Sequential(Cpu), p);
        Assert.Equal(609f / 6f, whole.FirstLayerGradientMean(), 4);
        using var head0 = new TrainableModel(config, new Sequential(Cpu), p, 0, 3);
        Assert.Equal(3f, head0.FirstLayerGradientMean());
        Assert.Throws<ArgumentOutOfRangeException>(() => new TrainableModel(config, new Sequential(Cpu), p, 4, 3));
    }

    [Fact]
    public void AttentionModelsMeasureHeadZeroOfTheFirstLayer()
    {
        using var model = ModelRegistry.Create(Cpu, ModelRegistry.Configure("attention-b", 1, 5, 7));
        Init.Apply(model.Network, new Rng(9));
        Assert.Equal("layers.0.heads.wx", model.Network.NamedParameters().First().Name);
        Assert.Same(model.Network.NamedParameters().First().Parameter, model.FirstLayerWeight);
        Assert.Equal(Shape.Of(8, 1, 5, 7), model.FirstLayerWeight.Shape);
        using var x = Cpu.Upload(Shape.Of(3, 1, 5, 7), Numerics.Uniform(6, 105, 0f, 1f));
        var logits = model.Network.Forward(x);
        Assert.Equal(Shape.Of(3, 10), logits.Shape);
        using var g = Cpu.Upload(Shape.Of(3, 10), Numerics.Uniform(7, 30));
        model.Network.ZeroGrad();
        model.Network.Backward(g);
        var grad = model.FirstLayerWeight.Gradient.Download();
        Assert.Equal(grad[..35].Select(v => (double)v).Average(), model.FirstLayerGradientMean(), 6);
        Assert.Equal(((AttentionModel)model.Network).FirstHeadWxGradientMean(), model.FirstLayerGradientMean());
        Assert.NotEqual(grad.Select(v => (double)v).Average(), model.FirstLayerGradientMean(), 9);
    }

    [Fact]
    public void TheDiaControlModelMapsImagesToLogitsAndMeasuresConv1()
    {
        using var model = ModelRegistry.Create(Cpu, ModelRegistry.Configure("dia-control", 1, 4, 8));
        Init.Apply(model.Network, new Rng(2));
        Assert.Same(((DiaControlModel)model.Network).Conv1.Weight, model.FirstLayerWeight);
        using var x = Cpu.Upload(Shape.Of(2, 1, 4, 8), Numerics.Uniform(8, 64, 0f, 1f));
        Assert.Equal(Shape.Of(2, 10), model.Network.Forward(x).Shape);
    }
}
