using System.Globalization;
using System.Text.Json;
using AttentionWise.Layers;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;
using AttentionWise.Training.Export.Onnx;
using AttentionWise.Training.Models;
using Google.Protobuf;

namespace AttentionWise.Training.Export;

/// <summary>A network or an option that ONNX (as this exporter writes it) cannot express.</summary>
public sealed class OnnxExportException : Exception
{
    public OnnxExportException(string message) : base(message) { }
}

/// <summary>What goes into an exported file besides the network.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>The ONNX operator set (default <see cref="OnnxExporter.DefaultOpset"/>; from
    /// <see cref="OnnxExporter.MinOpset"/> to <see cref="OnnxExporter.MaxOpset"/>).</summary>
    public int Opset { get; init; } = OnnxExporter.DefaultOpset;

    /// <summary>The output classes' names, in order (metadata "class_names", a JSON array); null writes none.</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }

    /// <summary>The graph's name.</summary>
    public string GraphName { get; init; } = "attentionwise";

    /// <summary>More metadata_props entries (e.g. "model_config"); the exporter's own keys win.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}

/// <summary>
/// Writes a network in evaluation mode as a standard ONNX model (default domain operators only), with a dynamic batch
/// dimension: input <see cref="InputName"/> [N, C, H, W] (float32 images, as the data loaders give them: pixel / 255),
/// outputs <see cref="LogitsName"/> [N, classes] (what the network's Forward gives) and <see cref="LogProbabilitiesName"/>
/// (LogSoftmax of the logits, what the loss reads). Batchnorms use their running statistics, as in evaluation.
/// <para>Exportable modules: <see cref="AttentionModel"/>, <see cref="ControlModel"/>, <see cref="DiaControlModel"/>,
/// <see cref="Sequential"/>, <see cref="AttentionLayer"/> (every option: heads, skip, post-conv batchnorm, head bias),
/// <see cref="AttentionHeads"/>, <see cref="Conv2d"/>, <see cref="BatchNorm2d"/>, <see cref="ReLU"/>, <see cref="Linear"/>
/// and <see cref="DiaStage"/> (its shared LSTM unit unrolled over the stage's convolutions). Any other module is refused
/// with an <see cref="OnnxExportException"/> that names it.</para>
/// <para>Operators: Reshape, Mul, Add, Softmax, BatchNormalization, Conv, Relu, Flatten, Gemm,
/// GlobalAveragePool, Split, Sigmoid, Tanh, LogSoftmax.</para>
/// </summary>
public static class OnnxExporter
{
    /// <summary>The operator set written unless asked otherwise.</summary>
    public const int DefaultOpset = 17;

    /// <summary>The oldest operator set that expresses every model (Softmax over one axis, Split with sizes as an input).</summary>
    public const int MinOpset = 13;

    /// <summary>The newest operator set the exporter writes.</summary>
    public const int MaxOpset = 21;

    public const string InputName = "images";
    public const string LogitsName = "logits";
    public const string LogProbabilitiesName = "log_probabilities";

    /// <summary>The IR version that goes with an operator set (ONNX's release table).</summary>
    public static long IrVersion(int opset) => opset switch
    {
        <= 14 => 7,
        <= 18 => 8,
        <= 20 => 9,
        _ => 10,
    };

    /// <summary>Exports <paramref name="network"/> for [N, <paramref name="channels"/>, <paramref name="height"/>,
    /// <paramref name="width"/>] inputs. The parameters and running statistics are read from the device now; the network
    /// and its mode are left as they are.</summary>
    /// <exception cref="OnnxExportException">The network holds a module the exporter cannot express, the input does not
    /// fit it, or the operator set is out of range.</exception>
    public static ModelProto Export(Module network, int channels, int height, int width, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        options ??= new OnnxExportOptions();
        if (options.Opset is < MinOpset or > MaxOpset)
            throw new OnnxExportException(string.Create(CultureInfo.InvariantCulture,
                $"ONNX operator set {options.Opset} is not supported: the exporter writes operator sets {MinOpset} to {MaxOpset}."));
        if (channels < 1 || height < 1 || width < 1)
            throw new OnnxExportException(string.Create(CultureInfo.InvariantCulture, $"The input {channels}×{height}×{width} is not a positive image size."));
        var input = Shape.Of(1, channels, height, width);
        Shape output;
        try
        {
            output = network.OutputShape(input);
        }
        catch (ShapeMismatchException e)
        {
            throw new OnnxExportException($"The network does not take {channels}×{height}×{width} inputs: {e.Message}");
        }
        if (output.Rank != 2)
            throw new OnnxExportException($"The network's output is {output}, not [N, classes]: only classifiers are exported.");

        var g = new OnnxGraph();
        g.Fresh(InputName);
        var emitter = new Emitter(g);
        var (logits, _) = emitter.Emit(network, InputName, input, "");
        // The final values get their public names.
        string logitsName = g.Node("Identity", LogitsName, [logits]);
        g.Node("LogSoftmax", LogProbabilitiesName, [logitsName], OnnxGraph.Int("axis", 1));
        g.Proto.Name = options.GraphName;
        g.Proto.Input.Add(OnnxGraph.Value(InputName, null, channels, height, width));
        g.Proto.Output.Add(OnnxGraph.Value(LogitsName, null, output[1]));
        g.Proto.Output.Add(OnnxGraph.Value(LogProbabilitiesName, null, output[1]));

        var model = new ModelProto
        {
            IrVersion = IrVersion(options.Opset),
            ProducerName = "AttentionWise",
            ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "",
            Graph = g.Proto,
            DocString = "Exported by AttentionWise (aw export): logits and log-probabilities of float32 images [N, C, H, W] with values pixel / 255.",
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = options.Opset });
        var metadata = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in options.Metadata ?? new Dictionary<string, string>())
            metadata[k] = v;
        metadata["input_name"] = InputName;
        metadata["input_shape"] = string.Create(CultureInfo.InvariantCulture, $"[N, {channels}, {height}, {width}]");
        metadata["input_scaling"] = "float32 pixel / 255 (values from 0 to 1), no mean or standard deviation subtracted";
        metadata["outputs"] = $"{LogitsName} [N, classes]; {LogProbabilitiesName} = LogSoftmax({LogitsName}) [N, classes]";
        if (options.ClassNames is { } names)
        {
            if (names.Count != output[1])
                throw new OnnxExportException(string.Create(CultureInfo.InvariantCulture, $"{names.Count} class names were given for a network of {output[1]} outputs."));
            metadata["class_names"] = JsonSerializer.Serialize(names);
        }
        foreach (var (k, v) in metadata)
            model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return model;
    }

    /// <summary>Exports the network of a checkpoint written by `aw train` (loaded on the cpu device), with its class
    /// names, dataset and model configuration in the metadata ("class_names", "dataset", "model_config", "epoch").</summary>
    /// <exception cref="CheckpointException">The checkpoint is missing, damaged or holds non-finite weights.</exception>
    /// <exception cref="OnnxExportException">The operator set is out of range.</exception>
    public static ModelProto ExportCheckpoint(string checkpointPath, int opset = DefaultOpset)
    {
        ArgumentNullException.ThrowIfNull(checkpointPath);
        var (info, tensors) = Checkpoint.Load(checkpointPath);
        using var device = ComputeDevice.Open("cpu");
        using var model = ModelRegistry.Create(device, info.Model);
        Checkpoint.Restore(checkpointPath, tensors, model, adam: null, 0);
        string dataset = Datasets.Canonical(info.Settings.Dataset);
        IReadOnlyList<string> classes = dataset == Datasets.Cifar10Name ? Cifar10.ClassNames : FashionMnist.ClassNames;
        return Export(model.Network, info.Model.Channels, info.Model.Height, info.Model.Width, new OnnxExportOptions
        {
            Opset = opset,
            ClassNames = classes.Count == info.Model.Classes ? classes : null,
            GraphName = info.Model.Name,
            Metadata = new Dictionary<string, string>
            {
                ["dataset"] = dataset,
                ["model_config"] = info.Model.ToJson(),
                ["epoch"] = info.Epoch.ToString(CultureInfo.InvariantCulture),
            },
        });
    }

    /// <summary>Writes a model to a file (created or replaced).</summary>
    public static void Save(ModelProto model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(path);
        using var stream = File.Create(path);
        model.WriteTo(stream);
    }

    /// <summary>Reads a model written by <see cref="Save"/> (or any ONNX file).</summary>
    public static ModelProto Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = File.OpenRead(path);
        return ModelProto.Parser.ParseFrom(stream);
    }

    /// <summary>Emits the nodes of each module kind. Shapes are tracked with a batch of one.</summary>
    private sealed class Emitter(OnnxGraph g)
    {
        public (string Output, Shape Shape) Emit(Module module, string x, Shape shape, string path)
        {
            switch (module)
            {
                case AttentionModel m:
                    (x, shape) = Emit(Child(m, "layers"), x, shape, Join(path, "layers"));
                    return Emit(m.Classifier, x, shape, Join(path, "classifier"));
                case ControlModel m:
                    (x, shape) = Emit(m.Features, x, shape, Join(path, "features"));
                    return Emit(m.Classifier, x, shape, Join(path, "classifier"));
                case DiaControlModel m:
                    (x, shape) = Emit(m.Stage1, x, shape, Join(path, "stage1"));
                    (x, shape) = Emit(m.Stage2, x, shape, Join(path, "stage2"));
                    return Emit(m.Classifier, x, shape, Join(path, "classifier"));
                case Sequential s:
                    foreach (var (name, child) in s.Children)
                        (x, shape) = Emit(child, x, shape, Join(path, name));
                    return (x, shape);
                case AttentionLayer l:
                    return (AttentionLayer(l, x, shape, path), shape);
                case AttentionHeads h:
                    return (Heads(h, x, path), Shape.Of(1, h.Heads * h.Channels, h.Height, h.Width));
                case Conv2d c:
                    return (Conv(c, x, path), c.OutputShape(shape));
                case BatchNorm2d b:
                    return (BatchNorm(b, x, path), shape);
                case ReLU:
                    return (g.Node("Relu", Join(path, "out"), [x]), shape);
                case Linear l:
                    return (Gemm(l, x, shape, path), l.OutputShape(shape));
                case DiaStage d:
                    return Dia(d, x, shape, path);
                default:
                    throw new OnnxExportException(
                        $"A {module.GetType().Name} module{(path.Length > 0 ? $" ('{path}')" : "")} cannot be exported to ONNX: the exporter knows AttentionModel, " +
                        "ControlModel, DiaControlModel, Sequential, AttentionLayer, AttentionHeads, Conv2d, BatchNorm2d, ReLU, Linear and DiaStage.");
            }
        }

        private static Module Child(Module m, string name) => m.Children.First(c => c.Name == name).Module;

        private static string Join(string path, string name) => path.Length == 0 ? name : path + "." + name;

        private string Param(Parameter p, string path, string name) =>
            g.Floats(Join(path, name), p.Value.Download(), p.Shape.Select(d => (long)d).ToArray());

        private string AttentionLayer(AttentionLayer l, string x, Shape shape, string path)
        {
            var (z, _) = Emit(l.Heads, x, shape, Join(path, "heads"));
            string y = Conv(l.Conv, z, Join(path, "conv"));
            if (l.Skip)
                y = g.Node("Add", Join(path, "skip"), [y, x]);
            if (l.Norm is not null)
                y = BatchNorm(l.Norm, y, Join(path, "bn"));
            return g.Node("Relu", Join(path, "out"), [y]);
        }

        /// <summary>The K heads at once on [N, 1, C, H, W] ⊙ [K, C, H, W] → [N, K, C, H, W]: softmax over the last axis
        /// (each row, across columns) and over the one before (each column, across rows), their product, the affine-free
        /// batchnorm over the K·C channels with running statistics, times X; channel k·C + c of the output is head k's.</summary>
        private string Heads(AttentionHeads h, string x, string path)
        {
            long k = h.Heads, c = h.Channels, rows = h.Height, cols = h.Width;
            string x5 = g.Node("Reshape", Join(path, "x5"), [x, g.Int64s(Join(path, "shape5x"), 0, 1, c, rows, cols)]);
            string px = g.Node("Mul", Join(path, "px"), [x5, Param(h.Wx, path, "wx")]);
            string py = g.Node("Mul", Join(path, "py"), [x5, Param(h.Wy, path, "wy")]);
            if (h.HasBias)
            {
                px = g.Node("Add", Join(path, "px_b"), [px, Param(h.Bx!, path, "bx")]);
                py = g.Node("Add", Join(path, "py_b"), [py, Param(h.By!, path, "by")]);
            }
            string ox = g.Node("Softmax", Join(path, "ox"), [px], OnnxGraph.Int("axis", 4));
            string oy = g.Node("Softmax", Join(path, "oy"), [py], OnnxGraph.Int("axis", 3));
            string r = g.Node("Mul", Join(path, "r"), [ox, oy]);
            string r4 = g.Node("Reshape", Join(path, "r4"), [r, g.Int64s(Join(path, "shape4"), 0, k * c, rows, cols)]);
            int kc = (int)(k * c);
            string rn = g.Node("BatchNormalization", Join(path, "rn"),
                [r4, g.Fill(Join(path, "bn_scale"), 1f, kc), g.Fill(Join(path, "bn_bias"), 0f, kc),
                    g.Floats(Join(path, "running_mean"), h.RunningMean.Download(), kc), g.Floats(Join(path, "running_var"), h.RunningVar.Download(), kc)],
                OnnxGraph.Float("epsilon", h.Eps));
            string rn5 = g.Node("Reshape", Join(path, "rn5"), [rn, g.Int64s(Join(path, "shape5"), 0, k, c, rows, cols)]);
            string z5 = g.Node("Mul", Join(path, "z5"), [x5, rn5]);
            return g.Node("Reshape", Join(path, "out"), [z5, g.Int64s(Join(path, "shape4"), 0, k * c, rows, cols)]);
        }

        private string Conv(Conv2d c, string x, string path)
        {
            var inputs = new List<string> { x, Param(c.Weight, path, "weight") };
            if (c.Bias is not null)
                inputs.Add(Param(c.Bias, path, "bias"));
            return g.Node("Conv", Join(path, "out"), inputs.ToArray(),
                OnnxGraph.Ints("kernel_shape", c.Kernel.H, c.Kernel.W),
                OnnxGraph.Ints("strides", c.Stride.H, c.Stride.W),
                OnnxGraph.Ints("pads", c.Padding.H, c.Padding.W, c.Padding.H, c.Padding.W),
                OnnxGraph.Ints("dilations", 1, 1),
                OnnxGraph.Int("group", 1));
        }

        private string BatchNorm(BatchNorm2d b, string x, string path)
        {
            int n = b.Channels;
            string scale = b.Weight is not null ? Param(b.Weight, path, "weight") : g.Fill(Join(path, "weight"), 1f, n);
            string bias = b.Bias is not null ? Param(b.Bias, path, "bias") : g.Fill(Join(path, "bias"), 0f, n);
            return g.Node("BatchNormalization", Join(path, "out"),
                [x, scale, bias, g.Floats(Join(path, "running_mean"), b.RunningMean.Download(), n), g.Floats(Join(path, "running_var"), b.RunningVar.Download(), n)],
                OnnxGraph.Float("epsilon", b.Eps));
        }

        private string Gemm(Linear l, string x, Shape shape, string path)
        {
            if (shape.Rank != 2)
                x = g.Node("Flatten", Join(path, "flat"), [x], OnnxGraph.Int("axis", 1));
            var inputs = new List<string> { x, Param(l.Weight, path, "weight") };
            if (l.Bias is not null)
                inputs.Add(Param(l.Bias, path, "bias"));
            return g.Node("Gemm", Join(path, "out"), inputs.ToArray(), OnnxGraph.Int("transB", 1));
        }

        /// <summary>The stage unrolled: for each conv t, F = conv(x); s = GlobalAveragePool(F); gates = Wih(s) + Whh(h);
        /// i, f, o = sigmoid, g = tanh; c' = f⊙c + i⊙g; h' = o⊙sigmoid(c'); x = ReLU(F ⊙ h'). At t = 0 the state is zero:
        /// Whh(0) = hh2(ReLU(hh1.bias)) + hh2.bias is a constant, folded into Wih's last bias, and c' = i⊙g.</summary>
        private (string, Shape) Dia(DiaStage d, string x, Shape shape, string path)
        {
            var u = d.Unit;
            string unit = Join(path, "dia");
            long c = d.Channels;
            string ih1w = Param(u.Ih1Weight, unit, "ih1.weight"), ih1b = Param(u.Ih1Bias, unit, "ih1.bias");
            string ih2w = Param(u.Ih2Weight, unit, "ih2.weight"), ih2b = Param(u.Ih2Bias, unit, "ih2.bias");
            string hh1w = Param(u.Hh1Weight, unit, "hh1.weight"), hh1b = Param(u.Hh1Bias, unit, "hh1.bias");
            string hh2w = Param(u.Hh2Weight, unit, "hh2.weight"), hh2b = Param(u.Hh2Bias, unit, "hh2.bias");
            string ih2bFirst = g.Floats(Join(unit, "ih2.bias_zero_state"), ZeroStateGates(u), 4 * c);
            string split = g.Int64s(Join(unit, "gate_sizes"), c, c, c, c);
            string maskShape = g.Int64s(Join(unit, "mask_shape"), 0, c, 1, 1);
            string? h = null, cell = null;
            int t = 0;
            foreach (var (name, conv) in d.Children.Where(ch => ch.Module is not DiaUnit))
            {
                string step = Join(unit, string.Create(CultureInfo.InvariantCulture, $"t{t}"));
                string f;
                (f, shape) = Emit(conv, x, shape, Join(path, name));
                string s = g.Node("Flatten", Join(step, "s"), [g.Node("GlobalAveragePool", Join(step, "pool"), [f])], OnnxGraph.Int("axis", 1));
                string aIh = g.Node("Relu", Join(step, "a_ih"), [g.Node("Gemm", Join(step, "ih1"), [s, ih1w, ih1b], OnnxGraph.Int("transB", 1))]);
                string gates;
                if (h is null)
                {
                    gates = g.Node("Gemm", Join(step, "gates"), [aIh, ih2w, ih2bFirst], OnnxGraph.Int("transB", 1));
                }
                else
                {
                    string aHh = g.Node("Relu", Join(step, "a_hh"), [g.Node("Gemm", Join(step, "hh1"), [h, hh1w, hh1b], OnnxGraph.Int("transB", 1))]);
                    gates = g.Node("Add", Join(step, "gates"),
                        [g.Node("Gemm", Join(step, "ih2"), [aIh, ih2w, ih2b], OnnxGraph.Int("transB", 1)),
                            g.Node("Gemm", Join(step, "hh2"), [aHh, hh2w, hh2b], OnnxGraph.Int("transB", 1))]);
                }
                var parts = g.NodeN("Split", [Join(step, "gi"), Join(step, "gf"), Join(step, "gg"), Join(step, "go")], [gates, split],
                    OnnxGraph.Int("axis", 1));
                string i = g.Node("Sigmoid", Join(step, "i"), [parts[0]]);
                string gg = g.Node("Tanh", Join(step, "g"), [parts[2]]);
                string o = g.Node("Sigmoid", Join(step, "o"), [parts[3]]);
                string ig = g.Node("Mul", Join(step, "ig"), [i, gg]);
                if (cell is null)
                {
                    cell = ig;
                }
                else
                {
                    string fg = g.Node("Sigmoid", Join(step, "f"), [parts[1]]);
                    cell = g.Node("Add", Join(step, "c"), [g.Node("Mul", Join(step, "fc"), [fg, cell]), ig]);
                }
                h = g.Node("Mul", Join(step, "h"), [o, g.Node("Sigmoid", Join(step, "sc"), [cell])]);
                string mask = g.Node("Reshape", Join(step, "mask"), [h, maskShape]);
                x = g.Node("Relu", Join(step, "out"), [g.Node("Mul", Join(step, "scaled"), [f, mask])]);
                t++;
            }
            return (x, shape);
        }

        /// <summary>ih2.bias + hh2(ReLU(hh1.bias)) + hh2.bias: the gates' part that does not depend on s when h = 0.</summary>
        private static float[] ZeroStateGates(DiaUnit u)
        {
            var hh1b = u.Hh1Bias.Value.Download();
            var hh2w = u.Hh2Weight.Value.Download();
            var hh2b = u.Hh2Bias.Value.Download();
            var ih2b = u.Ih2Bias.Value.Download();
            int rows = hh2b.Length, r = hh1b.Length;
            var result = new float[rows];
            for (int o = 0; o < rows; o++)
            {
                float sum = 0f;
                for (int j = 0; j < r; j++)
                    sum += hh2w[o * r + j] * MathF.Max(hh1b[j], 0f);
                result[o] = ih2b[o] + (sum + hh2b[o]);
            }
            return result;
        }
    }
}
