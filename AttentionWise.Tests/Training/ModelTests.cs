using AttentionWise.Layers;
using AttentionWise.Tests.Infrastructure;
using AttentionWise.Training.Models;

namespace AttentionWise.Tests.Training;

/// <summary>The registry's models: parameter counts (SPEC §1–§3), output shapes and the gradient-metric parameter.</summary>
[Collection(AttentionWise.Tests.Infrastructure.SharedDevices.Name)]
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

    public static TheoryData<string, int, int, int> EveryModelOnEveryInput()
    {
        var data = new TheoryData<string, int, int, int>();
        foreach (var name in ModelRegistry.Names)
        {
            data.Add(name, 1, 28, 28);
            data.Add(name, 3, 32, 32);
            data.Add(name, 2, 9, 13);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(EveryModelOnEveryInput))]
    public void TheDescriptionGivesTheBuiltModelsParameterCountAndShapes(string name, int c, int h, int w)
    {
        var config = ModelRegistry.Configure(name, c, h, w, 7);
        var spec = ModelSpec.Of(config);
        using var model = ModelRegistry.Create(Cpu, config);
        var network = (LayerStackModel)model.Network;
        Assert.Equal(spec, network.Spec);
        Assert.Equal(network.ParameterCount, spec.ParameterCount);
        Assert.Equal(network.ParameterCount, (long)ModelFootprint.Of(config, 1, training: true).Parameters);
        // One child per top-level layer, under its name, each with the parameters and output shape its description gives.
        Assert.Equal(spec.Layers.Select(l => l.Name), network.Children.Select(x => x.Name));
        var shape = Shape.Of(2, c, h, w);
        foreach (var ((layer, input, output), (_, module)) in spec.Steps().Zip(network.Children))
        {
            Assert.Equal(module.ParameterCount, layer.ParameterCount(input));
            shape = module.OutputShape(shape);
            Assert.Equal(output.Length, shape.ItemLength);
            if (shape.Rank == 4)
                Assert.Equal(output, new FeatureShape(shape.C, shape.H, shape.W));
        }
        Assert.Equal(new FeatureShape(7, 1, 1), spec.OutputShape);
    }

    [Theory]
    [InlineData("attention-b", 1, 28, 28)]
    [InlineData("attention-a", 3, 6, 5)]
    public void AttentionOverridesAreDescribedToo(string name, int c, int h, int w)
    {
        foreach (var overrides in new AttentionOverrides[] { new(Heads: 3, HeadBias: true), new(Layers: 1, Skip: false), new(PostConvBatchNorm: true, Heads: 1) })
        {
            var config = ModelRegistry.Configure(name, c, h, w, 10, overrides);
            using var model = ModelRegistry.Create(Cpu, config);
            Assert.Equal(model.Network.ParameterCount, ModelSpec.Of(config).ParameterCount);
            Assert.Equal(model.Network.ParameterCount, AttentionModelOptions.Of(config, config.Attention!).FormulaParameterCount());
        }
    }

    [Fact]
    public void TheControlStackIsDescribedOnceAndSharedByDiaControl()
    {
        var control = ModelSpec.Control(1, 28, 28);
        var dia = ModelSpec.DiaControl(1, 28, 28);
        var convs = ModelSpec.ControlStages.SelectMany(s => s).ToList();
        Assert.Equal(convs, ((SequenceSpec)control.Layers[0]).Layers.OfType<ConvSpec>());
        Assert.Equal(convs, dia.Layers.OfType<DiaStageSpec>().SelectMany(s => s.Convs));
        Assert.Equal(new[] { 100, 200 }, dia.Layers.OfType<DiaStageSpec>().Select(s => s.Channels));
        // DIA-control = control + one unit per stage (SPEC §3).
        Assert.Equal(929_510 + 25_850 + 101_700, dia.ParameterCount);
        Assert.Equal(929_510, control.ParameterCount);
        // The footprint's activations are the layers' outputs: conv1 … relu6 at 28×28, 14×14 and 7×7.
        double perImage = 4 * 100 * 784 + 2 * 100 * 196 + 4 * 200 * 196 + 2 * 200 * 49;
        Assert.Equal(perImage * 3, control.Activations(3).Sum(t => t.Values));
        Assert.Equal(perImage * 3, dia.Activations(3).Sum(t => t.Values));
    }

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
