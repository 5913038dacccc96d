using System.Globalization;
using System.Text.Json;
using AttentionWise.Layers;
using AttentionWise.Tests.Data;
using AttentionWise.Tests.Infrastructure;
using AttentionWise.Tool.Export;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;
using AttentionWise.Training.Export;
using AttentionWise.Training.Models;
using Microsoft.ML.OnnxRuntime;

namespace AttentionWise.Tests.Training;

/// <summary>
/// ONNX export checked by an independent implementation: ONNX Runtime (CPU) runs the exported graph of every model kind
/// and variant on real Fashion-MNIST test images, and its logits must be AttentionWise's evaluation logits within float
/// tolerance; a quickly trained model must keep its `aw eval` accuracy over the whole test set; every exported graph
/// passes the structural check and ONNX Runtime's load with its shapes inferred.
/// </summary>
[Collection(AttentionWise.Tests.Infrastructure.SharedDevices.Name)]
public class OnnxExportTests
{
    private static readonly string[] Variants =
    [
        "attention-b", "attention-h", "attention-a", "attention-b+head-bias+no-skip", "attention-a+head-bias+1-head", "control", "dia-control",
    ];

    public static TheoryData<string> VariantNames() => new(Variants);

    private static void RequireFashionMnist() =>
        Assert.SkipUnless(File.Exists(Path.Combine(FashionMnist.DefaultDirectory, FashionMnist.TestImages)),
            "Fashion-MNIST is not installed (sudo apt-get install dataset-fashion-mnist).");

    private static readonly Lazy<Dataset> Test = new(() => FashionMnist.Load().Test);

    /// <summary>The configuration of a variant name: a registry model, with "+"-separated attention options.</summary>
    private static ModelConfig Configure(string variant)
    {
        var parts = variant.Split('+');
        var o = new AttentionOverrides(
            Heads: parts.Contains("1-head") ? 1 : null,
            Skip: parts.Contains("no-skip") ? false : null,
            HeadBias: parts.Contains("head-bias") ? true : null);
        return ModelRegistry.Configure(parts[0], 1, 28, 28, overrides: o.Any ? o : null);
    }

    /// <summary>A model with weights far from the paper's small init (so that every softmax, gate and batchnorm matters); an
    /// attention model then takes twelve Adam steps on images 0–63, which make its logits depend on the image and leave
    /// running statistics that are real batches', not their initial 0 and 1.</summary>
    private static TrainableModel NonTrivial(ModelConfig config, int seed)
    {
        var model = ModelRegistry.Create(TestDevices.Cpu, config);
        var rng = new Rng((ulong)seed);
        foreach (var (_, p) in model.Network.NamedParameters())
        {
            var v = new float[p.Length];
            double fanIn = p.Shape.Rank >= 2 ? p.Length / (double)p.Shape[0] : 1;
            for (int i = 0; i < v.Length; i++)
            {
                double z = rng.NextNormal();
                v[i] = (float)(p.Init switch
                {
                    ParameterInit.Ones => 1 + 0.2 * z,
                    // Biases of one sign: with C = 1, one negative conv bias can switch a whole layer off.
                    ParameterInit.Zeros => 0.1 * Math.Abs(z),
                    // The attention weights: X ⊙ W of order 1, so the softmaxes are far from uniform.
                    _ when p.Group == Parameter.AttentionGroup => 1.5 * z,
                    // He-like gain, larger in DIA-control whose masks (in (0, 1)) shrink every conv's output.
                    _ => z * (config.Name == "dia-control" ? 3 : 2) / Math.Sqrt(fanIn),
                });
            }
            p.Value.Upload(v);
        }
        if (config.Attention is not null)
        {
            var images = Test.Value.Images.AsSpan(0, 64 * 784).ToArray();
            using var x = TestDevices.Cpu.Upload(Shape.Of(64, 1, 28, 28), images);
            using var labels = DeviceIntTensor.Upload(TestDevices.Cpu, Test.Value.Labels.Take(64).ToArray());
            using var loss = new LogSoftmaxNllLoss(TestDevices.Cpu);
            using var adam = new Adam(TestDevices.Cpu, model.Network.NamedParameters(), lr: 0.02f);
            model.Network.Train();
            for (int i = 0; i < 12; i++)
            {
                model.Network.ZeroGrad();
                loss.Forward(model.Network.Forward(x), labels);
                model.Network.Backward(loss.Backward());
                adam.Step();
            }
            // The heads' running statistics start at 0 and 1 and need hundreds of steps to reach R's (values near
            // 1/(H·W)): set them to one training-mode batch's, moved a little so that they are not exactly any batch's.
            model.Network.Forward(x);
            foreach (var layer in ((AttentionModel)model.Network).Layers)
            {
                var r = layer.Relevance().Download();
                int channels = layer.Heads.Heads * layer.Channels, plane = 28 * 28;
                var mean = new float[channels];
                var variance = new float[channels];
                for (int q = 0; q < channels; q++)
                {
                    double sum = 0, sq = 0;
                    for (int n = 0; n < 64; n++)
                    {
                        for (int i = 0; i < plane; i++)
                        {
                            double v = r[(n * channels + q) * plane + i];
                            sum += v;
                            sq += v * v;
                        }
                    }
                    double m = sum / (64 * plane), var = Math.Max(0, sq / (64 * plane) - m * m);
                    mean[q] = (float)(m + 0.1 * Math.Sqrt(var) * rng.NextNormal());
                    variance[q] = (float)(var * (1 + 0.2 * Math.Abs(rng.NextNormal())));
                }
                layer.Heads.RunningMean.Upload(mean);
                layer.Heads.RunningVar.Upload(variance);
            }
        }
        model.Network.Eval();
        return model;
    }

    private static float[] Rows(Dataset d, int first, int count) => d.Images.AsSpan(first * d.ItemLength, count * d.ItemLength).ToArray();

    private static float[] AttentionWiseLogits(Module net, float[] images, int count)
    {
        using var x = TestDevices.Cpu.Upload(Shape.Of(count, 1, 28, 28), images);
        return net.Forward(x).Download();
    }

    [Theory]
    [MemberData(nameof(VariantNames))]
    public void OnnxRuntimeGivesAttentionWisesLogitsOnRealImages(string variant)
    {
        RequireFashionMnist();
        var config = Configure(variant);
        using var model = NonTrivial(config, seed: 11);
        using var dir = new TempDir();
        string path = dir.File("model.onnx");
        var proto = OnnxExporter.Export(model.Network, 1, 28, 28, new OnnxExportOptions { ClassNames = FashionMnist.ClassNames });
        Assert.Empty(OnnxModelCheck.Problems(proto));
        OnnxExporter.Save(proto, path);

        // Images 64 on: not those the running statistics came from. The control models are slow on the CPU: fewer images.
        int count = config.Attention is null ? 24 : 64;
        var images = Rows(Test.Value, 64, count);
        var expected = AttentionWiseLogits(model.Network, images, count);
        using var onnx = new OnnxRuntimeModel(path);
        var actual = onnx.Logits(images, 0, count);
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(v => Math.Abs(v));
        double worst = expected.Zip(actual, (e, a) => Math.Abs((double)e - a)).Max();
        Assert.True(worst <= 1e-4 * Math.Max(1, scale), $"{variant}: largest logit difference {worst:G3} at logits up to {scale:G3}");
        // The check means something: the logits differ from image to image by much more than the tolerance.
        var spread = Enumerable.Range(0, 10).Max(k => Enumerable.Range(0, count).Max(n => expected[n * 10 + k]) - Enumerable.Range(0, count).Min(n => expected[n * 10 + k]));
        Assert.True(spread > 0.1, $"{variant}: the logits hardly vary ({spread:G3}), so the comparison would be weak: {string.Join(", ", expected.Take(20))}");

        // The batch dimension is dynamic: a batch of 3 (from another offset) gives the same rows.
        var three = onnx.Logits(images, 5, 3);
        for (int i = 0; i < three.Length; i++)
            Assert.True(Math.Abs(three[i] - actual[50 + i]) <= 1e-5 * Math.Max(1, scale), $"{variant}: batch of 3, logit {i}");
    }

    [Theory]
    [MemberData(nameof(VariantNames))]
    public void ExportedGraphPassesTheStructuralCheckAndOnnxRuntimesLoadWithShapesInferred(string variant)
    {
        var config = Configure(variant);
        using var model = ModelRegistry.Create(TestDevices.Cpu, config);
        Init.Apply(model.Network, new Rng(5));
        var proto = OnnxExporter.Export(model.Network, 1, 28, 28, new OnnxExportOptions
        {
            ClassNames = FashionMnist.ClassNames,
            Metadata = new Dictionary<string, string> { ["model_config"] = config.ToJson() },
        });
        Assert.Empty(OnnxModelCheck.Problems(proto));
        Assert.Equal(OnnxExporter.DefaultOpset, proto.OpsetImport.Single().Version);
        // Standard operators only, none of another domain.
        Assert.All(proto.Graph.Node, n => Assert.Equal("", n.Domain));
        // Every parameter is an initializer of its own name and values.
        foreach (var (name, p) in model.Network.NamedParameters())
        {
            var t = Assert.Single(proto.Graph.Initializer, i => i.Name == name);
            Assert.Equal(p.Shape.Select(d => (long)d), t.Dims);
            var values = new float[p.Length];
            Buffer.BlockCopy(t.RawData.ToByteArray(), 0, values, 0, t.RawData.Length);
            Assert.Equal(p.Value.Download(), values);
        }
        using var dir = new TempDir();
        string path = dir.File("model.onnx");
        OnnxExporter.Save(proto, path);
        using var onnx = new OnnxRuntimeModel(path);
        Assert.Equal([-1, 1, 28, 28], onnx.InputDimensions);
        Assert.Equal([-1, 10], onnx.OutputDimensions);
        Assert.Equal(FashionMnist.ClassNames, JsonSerializer.Deserialize<string[]>(onnx.Metadata["class_names"]));
        Assert.Equal(config, ModelConfig.FromJson(onnx.Metadata["model_config"]));
        Assert.Equal("[N, 1, 28, 28]", onnx.Metadata["input_shape"]);
        Assert.Equal(OnnxExporter.InputName, onnx.Metadata["input_name"]);
    }

    /// <summary>ONNX's own checker (onnx.checker with full_check, and strict shape inference) on every variant, where
    /// Python's onnx package is installed (Debian: python3-onnx, whose 1.12 knows operator sets up to 17).</summary>
    [Fact]
    public void OnnxsOwnCheckerAndStrictShapeInferenceAcceptEveryVariantWhereInstalled()
    {
        const string Python = "/usr/bin/python3";
        Assert.SkipUnless(File.Exists(Python) && Run(Python, "-c \"import onnx\"").Code == 0,
            "Python's onnx package is not installed (sudo apt-get install python3-onnx).");
        using var dir = new TempDir();
        var files = new List<string>();
        foreach (var variant in Variants)
        {
            using var model = ModelRegistry.Create(TestDevices.Cpu, Configure(variant));
            Init.Apply(model.Network, new Rng(5));
            string path = dir.File(variant.Replace('+', '_') + ".onnx");
            OnnxExporter.Save(OnnxExporter.Export(model.Network, 1, 28, 28), path);
            files.Add(path);
        }
        File.WriteAllText(dir.File("check.py"), """
            import sys, onnx
            from onnx import checker, shape_inference
            for path in sys.argv[1:]:
                m = onnx.load(path)
                checker.check_model(m, full_check=True)
                inferred = shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
                dims = [[d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in inferred.graph.output]
                print(path, len(inferred.graph.value_info), dims)
            """);
        var (code, output) = Run(Python, string.Join(" ", new[] { dir.File("check.py") }.Concat(files).Select(f => $"\"{f}\"")));
        Assert.True(code == 0, output);
        foreach (var f in files)
            Assert.Contains($"{f} ", output);
        // Both outputs inferred as [N, 10].
        Assert.Equal(files.Count, output.Split('\n').Count(l => l.EndsWith("[['N', 10], ['N', 10]]", StringComparison.Ordinal)));
    }

    private static (int Code, string Output) Run(string program, string arguments)
    {
        var start = new System.Diagnostics.ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = System.Diagnostics.Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }

    [Fact]
    public void TheStructuralCheckAndOnnxRuntimeRefuseANodeThatReadsAnUndefinedValue()
    {
        using var model = ModelRegistry.Create(TestDevices.Cpu, Configure("attention-b"));
        Init.Apply(model.Network, new Rng(5));
        var proto = OnnxExporter.Export(model.Network, 1, 28, 28);
        var node = proto.Graph.Node[3];
        node.Input[0] = "nowhere";
        var problems = OnnxModelCheck.Problems(proto);
        Assert.Contains(problems, p => p.Contains("reads 'nowhere'", StringComparison.Ordinal));
        // A node moved before the node that writes its input is found too.
        var moved = OnnxExporter.Export(model.Network, 1, 28, 28);
        var last = moved.Graph.Node[^1];
        moved.Graph.Node.RemoveAt(moved.Graph.Node.Count - 1);
        moved.Graph.Node.Insert(0, last);
        Assert.NotEmpty(OnnxModelCheck.Problems(moved));
        using var dir = new TempDir();
        OnnxExporter.Save(proto, dir.File("bad.onnx"));
        Assert.Throws<OnnxRuntimeException>(() => new OnnxRuntimeModel(dir.File("bad.onnx")).Dispose());
    }

    [Theory]
    [InlineData(OnnxExporter.MinOpset)]
    [InlineData(OnnxExporter.MaxOpset)]
    public void EveryOperatorSetInTheRangeLoadsAndAgrees(int opset)
    {
        RequireFashionMnist();
        foreach (var variant in new[] { "attention-a+head-bias+1-head", "dia-control" })
        {
            var config = Configure(variant);
            using var model = NonTrivial(config, seed: 3);
            using var dir = new TempDir();
            var proto = OnnxExporter.Export(model.Network, 1, 28, 28, new OnnxExportOptions { Opset = opset });
            Assert.Equal(OnnxExporter.IrVersion(opset), proto.IrVersion);
            OnnxExporter.Save(proto, dir.File("m.onnx"));
            using var onnx = new OnnxRuntimeModel(dir.File("m.onnx"));
            var images = Rows(Test.Value, 200, 8);
            var expected = AttentionWiseLogits(model.Network, images, 8);
            var actual = onnx.Logits(images, 0, 8);
            double scale = Math.Max(1, expected.Max(v => Math.Abs(v)));
            Assert.All(expected.Zip(actual), p => Assert.True(Math.Abs(p.First - p.Second) <= 1e-4 * scale, $"{variant} opset {opset}: {p.First} vs {p.Second}"));
        }
    }

    [Fact]
    public void RefusesWhatOnnxCannotExpressWithAClearMessage()
    {
        using var model = ModelRegistry.Create(TestDevices.Cpu, Configure("attention-b"));
        var opset = Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(model.Network, 1, 28, 28, new OnnxExportOptions { Opset = 12 }));
        Assert.Contains("operator set 12 is not supported", opset.Message);
        var shape = Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(model.Network, 1, 32, 32));
        Assert.Contains("does not take 1×32×32 inputs", shape.Message);
        using var custom = new Sequential(TestDevices.Cpu, new Conv2d(TestDevices.Cpu, 1, 4, 3, 1, 1), new Doubler(TestDevices.Cpu),
            new Linear(TestDevices.Cpu, 4 * 8 * 8, 10));
        var unknown = Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(custom, 1, 8, 8));
        Assert.Contains("A Doubler module ('1') cannot be exported", unknown.Message);
        Assert.Contains("the exporter knows AttentionModel", unknown.Message);
        using var notClassifier = new Sequential(TestDevices.Cpu, new Conv2d(TestDevices.Cpu, 1, 4, 3, 1, 1));
        Assert.Contains("only classifiers", Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(notClassifier, 1, 8, 8)).Message);
    }

    [Fact]
    public void ExportsAModuleTheUserBuilt()
    {
        RequireFashionMnist();
        var d = TestDevices.Cpu;
        using var net = new Sequential(d,
            new Conv2d(d, 1, 6, 3, 2, 1), new BatchNorm2d(d, 6), new ReLU(d),
            new AttentionLayer(d, 6, 14, 14, 2, postConvBatchNorm: true, skip: true, headBias: true),
            new Linear(d, 6 * 14 * 14, 10));
        Init.Apply(net, new Rng(9), std: 0.4f);
        var images = Rows(Test.Value, 0, 32);
        using (var x = d.Upload(Shape.Of(32, 1, 28, 28), images))
        {
            for (int i = 0; i < 3; i++)
                net.Forward(x);
        }
        net.Eval();
        using var dir = new TempDir();
        OnnxExporter.Save(OnnxExporter.Export(net, 1, 28, 28), dir.File("mine.onnx"));
        using var onnx = new OnnxRuntimeModel(dir.File("mine.onnx"));
        var other = Rows(Test.Value, 32, 16);
        var expected = AttentionWiseLogits(net, other, 16);
        var actual = onnx.Logits(other, 0, 16);
        double scale = Math.Max(1, expected.Max(v => Math.Abs(v)));
        Assert.All(expected.Zip(actual), p => Assert.True(Math.Abs(p.First - p.Second) <= 1e-4 * scale, $"{p.First} vs {p.Second}"));
    }

    /// <summary>The command line end to end on the real test set: a quickly trained attention-b exports, and ONNX Runtime's
    /// accuracy over the 10,000 test images is `aw eval`'s; an image classified differently must sit on a tie (its logit
    /// margin within float rounding).</summary>
    [Fact]
    public void ExportedModelKeepsAwEvalsAccuracyOnTheWholeTestSet()
    {
        RequireFashionMnist();
        using var dir = new TempDir();
        string runs = Path.Combine(dir.Path, "runs");
        var train = CliTests.Aw("train", "--model", "attention-b", "--epochs", "1", "--train-limit", "2048", "--batch-size", "256", "--device", "cpu",
            "--runs-dir", runs, "--run", "quick", "--lr", "0.01");
        Assert.True(train.Code == 0, train.Err);
        string checkpoint = Path.Combine(runs, "quick", Checkpoint.FileName);
        string onnxPath = dir.File("quick.onnx");
        var export = CliTests.Aw("export", "--checkpoint", checkpoint, "--out", onnxPath);
        Assert.True(export.Code == 0, export.Err);
        Assert.StartsWith($"wrote {onnxPath}: ", export.Out);

        var eval = CliTests.Aw("eval", "--checkpoint", checkpoint, "--device", "cpu", "--batch-size", "1000");
        Assert.True(eval.Code == 0, eval.Err);
        double awEval = Accuracy(eval.Out, "accuracy ");
        Assert.InRange(awEval, 50, 100);

        var both = CliTests.Aw("eval", "--onnx", onnxPath, "--checkpoint", checkpoint, "--device", "cpu");
        Assert.True(both.Code == 0, both.Err);
        Assert.Equal(awEval, Accuracy(both.Out, "accuracy AttentionWise "));
        double onnx = Accuracy(both.Out, "% ONNX ");
        int flips = int.Parse(both.Out.Split("; ")[1].Split(' ')[0], CultureInfo.InvariantCulture);
        Assert.True(Math.Abs(onnx - awEval) <= flips * 0.01 + 1e-9, both.Out);
        // Each image classified differently is explained by a margin at float rounding's scale.
        foreach (var line in both.Out.Split('\n').Where(l => l.Contains("by a margin of", StringComparison.Ordinal)))
        {
            double margin = double.Parse(line.Split("margin of ")[1].Split(',')[0], CultureInfo.InvariantCulture);
            Assert.True(margin < 1e-4, line);
        }
    }

    private static double Accuracy(string output, string marker)
    {
        var line = output.Split('\n').Last(l => l.Contains(marker, StringComparison.Ordinal));
        var text = line[(line.LastIndexOf(marker, StringComparison.Ordinal) + marker.Length)..];
        return double.Parse(text[..text.IndexOf('%', StringComparison.Ordinal)], CultureInfo.InvariantCulture);
    }

    [Fact]
    public void CommandLineErrorsAreOneLine()
    {
        using var dir = new TempDir();
        var opset = CliTests.Aw("export", "--checkpoint", dir.File("none.safetensors"), "--opset", "99");
        Assert.Equal(2, opset.Code);
        Assert.Contains("--opset must be from 13 to 21, not 99.", opset.Err);
        var missing = CliTests.Aw("export", "--checkpoint", dir.File("none.safetensors"));
        Assert.Equal(1, missing.Code);
        Assert.StartsWith("aw: error: ", missing.Err);
        Assert.Single(missing.Err.Trim().Split('\n'));
        var neither = CliTests.Aw("eval");
        Assert.Equal(2, neither.Code);
        Assert.Contains("aw eval needs --checkpoint FILE, --onnx FILE.onnx, or both.", neither.Err);
        File.WriteAllText(dir.File("junk.onnx"), "not a model");
        var junk = CliTests.Aw("eval", "--onnx", dir.File("junk.onnx"));
        Assert.Equal(1, junk.Code);
        Assert.StartsWith("aw: error: ONNX Runtime: ", junk.Err);
        Assert.Single(junk.Err.Trim().Split('\n'));
        var help = CliTests.Aw("export", "--help");
        Assert.Equal(0, help.Code);
        Assert.Contains("--opset", help.Out);
    }

    /// <summary>A module the exporter does not know.</summary>
    private sealed class Doubler(ComputeDevice device) : Module(device)
    {
        public override Shape OutputShape(Shape input) => input;
        public override DeviceTensor Forward(DeviceTensor input) => input;
        public override DeviceTensor? Backward(DeviceTensor gradOutput) => gradOutput;
    }
}
