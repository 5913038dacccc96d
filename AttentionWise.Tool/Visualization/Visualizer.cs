using AttentionWise.Layers;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;

namespace AttentionWise.Tool.Visualization;

/// <summary>What `aw visualize` was asked for.</summary>
/// <param name="Checkpoint">A checkpoint written by `aw train`.</param>
/// <param name="OutDirectory">Where the PNG files go (null: figures/ beside the checkpoint).</param>
/// <param name="Images">How many test images to show.</param>
/// <param name="Device">The device to run the forward pass on.</param>
/// <param name="DataDirectory">The dataset's directory (null: the run's own).</param>
internal sealed record VisualizeRequest(string Checkpoint, string? OutDirectory = null, int Images = 4, string? Device = null, string? DataDirectory = null);

/// <summary>
/// Pictures of a trained model (paper Fig. 1–8), drawn with ScottPlot. Attention models: each layer's head weights Wx,
/// Wy and the product of their softmaxes (Fig. 1–2); for the first test image, every head's stages X⊙Wx, Ox, X⊙Wy, Oy,
/// R = Ox⊙Oy and its output (Fig. 3); for each test image, every layer's stages before the convolution, after it,
/// before and after the norm, and its output (Fig. 4–8). Control and DIA-control: the first convolution's filters and
/// its feature maps. Every heat map has its own colour bar: signed quantities on a diverging map centred on zero,
/// non-negative ones on Viridis.
/// </summary>
internal static class Visualizer
{
    /// <summary>Pixels per value for the 28×28 / 32×32 panels.</summary>
    private const int Cell = 5;

    public static IReadOnlyList<string> Run(VisualizeRequest request, Action<string> line)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(line);
        var (info, tensors) = Checkpoint.Load(request.Checkpoint);
        string outDir = request.OutDirectory ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(request.Checkpoint))!, "figures");
        Directory.CreateDirectory(outDir);
        using var device = ComputeDevice.Open(request.Device);
        using var model = ModelRegistry.Create(device, info.Model);
        Checkpoint.Restore(request.Checkpoint, tensors, model, adam: null, 0);
        model.Network.Eval();
        string name = FormattableString.Invariant($"{info.Model.Name} (epoch {info.Epoch})");
        if (info.Model.Attention is { } a && ModelRegistry.Find(info.Model.Name).Attention != a)
            name = FormattableString.Invariant($"{info.Model.Name}, {a} (epoch {info.Epoch})");

        var test = LoadTest(info, request, line);
        var chosen = test is null ? [] : ChooseImages(test, request.Images);
        var written = new List<string>();
        void Save(Figure figure, string file)
        {
            string path = Path.Combine(outDir, file);
            figure.Save(path, FigureFormat.Png);
            written.Add(path);
            line($"wrote {path} ({figure.Width}×{figure.Height})");
        }

        switch (model.Network)
        {
            case AttentionModel attention:
                AttentionFigures(attention, name, test, chosen, Save);
                break;
            case ControlModel control:
                ConvFigures(control.Conv1, control, name, test, chosen, Save);
                break;
            case DiaControlModel dia:
                ConvFigures(dia.Conv1, dia, name, test, chosen, Save);
                break;
            default:
                throw new NotSupportedException($"No figures for {model.Network.GetType().Name}.");
        }
        return written;
    }

    private static Dataset? LoadTest(CheckpointInfo info, VisualizeRequest request, Action<string> line)
    {
        if (request.Images <= 0)
            return null;
        try
        {
            var test = Datasets.Load(info.Settings with { DataDirectory = request.DataDirectory ?? info.Settings.DataDirectory }, testOnly: true).Test;
            if ((test.Channels, test.Height, test.Width) != (info.Model.Channels, info.Model.Height, info.Model.Width))
            {
                line($"no test-image figures: the test images are {test.Channels}×{test.Height}×{test.Width}, the model takes {info.Model.InputDescription}");
                return null;
            }
            return test;
        }
        catch (DatasetException e)
        {
            line($"no test-image figures (weights only): {e.Message}");
            return null;
        }
    }

    /// <summary>The first test image of each class in turn, so that the pictures show different classes.</summary>
    internal static List<int> ChooseImages(Dataset test, int count)
    {
        var chosen = new List<int>();
        var seen = new HashSet<int>();
        for (int i = 0; i < test.Count && chosen.Count < count; i++)
        {
            if (seen.Add(test.Labels[i]))
                chosen.Add(i);
        }
        for (int i = 0; i < test.Count && chosen.Count < count; i++)
        {
            if (!chosen.Contains(i))
                chosen.Add(i);
        }
        return chosen;
    }

    private sealed record Batch(DeviceTensor Images, float[][] Probabilities, int[] Indices, Dataset Test) : IDisposable
    {
        public void Dispose() => Images.Dispose();

        /// <summary>e.g. "test image #3: Dress, predicted Coat (45 %), wrong".</summary>
        public string Caption(int b)
        {
            int index = Indices[b];
            int label = Test.Labels[index];
            var p = Probabilities[b];
            int predicted = Array.IndexOf(p, p.Max());
            return FormattableString.Invariant(
                $"test image #{index}: {Test.ClassNames[label]}, predicted {Test.ClassNames[predicted]} ({100 * p[predicted]:0} %){(predicted == label ? "" : ", wrong")}");
        }
    }

    /// <summary>Uploads the chosen images and runs the network on them (evaluation mode); keeps every layer's tensors.</summary>
    private static Batch? Forward(Module net, Dataset? test, List<int> chosen)
    {
        if (test is null || chosen.Count == 0)
            return null;
        int item = test.ItemLength;
        var pixels = new float[chosen.Count * item];
        for (int b = 0; b < chosen.Count; b++)
            Array.Copy(test.Images, chosen[b] * item, pixels, b * item, item);
        var images = net.Device.Upload(Shape.Of(chosen.Count, test.Channels, test.Height, test.Width), pixels);
        var logits = net.Forward(images).Download();
        int classes = logits.Length / chosen.Count;
        var probabilities = new float[chosen.Count][];
        for (int b = 0; b < chosen.Count; b++)
        {
            var row = logits.AsSpan(b * classes, classes);
            float max = float.NegativeInfinity;
            foreach (float v in row)
                max = Math.Max(max, v);
            double sum = 0;
            var p = new float[classes];
            for (int k = 0; k < classes; k++)
                sum += p[k] = MathF.Exp(row[k] - max);
            for (int k = 0; k < classes; k++)
                p[k] = (float)(p[k] / sum);
            probabilities[b] = p;
        }
        return new Batch(images, probabilities, chosen.ToArray(), test);
    }

    private static void AttentionFigures(AttentionModel model, string name, Dataset? test, List<int> chosen, Action<Figure, string> save)
    {
        var o = model.Options;
        int c = o.Channels, h = o.Height, w = o.Width, plane = h * w;
        var layers = model.Layers;

        // Fig. 1–2: the weights of each head and the product of their softmaxes.
        for (int l = 0; l < layers.Count; l++)
        {
            var heads = layers[l].Heads;
            var wx = heads.Wx.Value.Download();
            var wy = heads.Wy.Value.Download();
            var panels = new List<Panel?>();
            for (int k = 0; k < o.Heads; k++)
            {
                for (int ch = 0; ch < c; ch++)
                {
                    int at = (k * c + ch) * plane;
                    string tag = c == 1 ? $"Head {k}" : $"Head {k}, channel {ch}";
                    var x = wx.AsSpan(at, plane).ToArray();
                    var y = wy.AsSpan(at, plane).ToArray();
                    panels.Add(Charts.Heat($"{tag}: Wx", x, h, w, ColourMap.Diverging, Cell));
                    panels.Add(Charts.Heat($"{tag}: Wy", y, h, w, ColourMap.Diverging, Cell));
                    panels.Add(Charts.Heat($"{tag}: softmax product", Multiply(RowSoftmax(x, h, w), ColumnSoftmax(y, h, w)), h, w, ColourMap.Viridis, Cell));
                }
            }
            int columns = 3 * c * (c == 1 && o.Heads > 1 ? 2 : 1);
            save(new Figure($"{name}: layer {l} head weights", [
                "Wx, Wy: each head's x and y weights (blue negative, red positive, white zero; each panel its own scale).",
                "Softmax product: the softmax of Wx along each row times the softmax of Wy along each column (paper Fig. 1-2).",
            ], panels, columns), $"weights-layer{l}.png");
        }

        using var batch = Forward(model, test, chosen);
        if (batch is null)
            return;

        // Fig. 3: every head's stages for the first image, in every layer.
        for (int l = 0; l < layers.Count; l++)
        {
            var layer = layers[l];
            var heads = layer.Heads;
            var input = (l == 0 ? batch.Images : layers[l - 1].Output!).Download();
            var wx = heads.Wx.Value.Download();
            var wy = heads.Wy.Value.Download();
            var bx = heads.Bx?.Value.Download();
            var by = heads.By?.Value.Download();
            var ox = heads.DownloadRowSoftmax();
            var oy = heads.DownloadColumnSoftmax();
            var r = layer.Relevance().Download();
            var z = layer.HeadOutputs!.Download();
            const int b = 0, ch = 0;
            int q = o.Heads * c;
            var x = input.AsSpan((b * c + ch) * plane, plane).ToArray();
            var panels = new List<Panel?>();
            for (int k = 0; k < o.Heads; k++)
            {
                int weight = (k * c + ch) * plane;
                int head = (b * q + k * c + ch) * plane;
                panels.Add(k == 0 ? Charts.Heat(l == 0 ? "Input X" : $"X = layer {l - 1} output", x, h, w, ColourMap.Viridis, Cell) : null);
                panels.Add(Charts.Heat($"Head {k}: X⊙Wx{(bx is null ? "" : " + Bx")}", Affine(x, wx, bx, weight, plane), h, w, ColourMap.Diverging, Cell));
                panels.Add(Charts.Heat($"Head {k}: Ox, row softmax", ox.AsSpan(head, plane).ToArray(), h, w, ColourMap.Viridis, Cell));
                panels.Add(Charts.Heat($"Head {k}: X⊙Wy{(by is null ? "" : " + By")}", Affine(x, wy, by, weight, plane), h, w, ColourMap.Diverging, Cell));
                panels.Add(Charts.Heat($"Head {k}: Oy, column softmax", oy.AsSpan(head, plane).ToArray(), h, w, ColourMap.Viridis, Cell));
                panels.Add(Charts.Heat($"Head {k}: R = Ox⊙Oy", r.AsSpan(head, plane).ToArray(), h, w, ColourMap.Viridis, Cell));
                panels.Add(Charts.Heat($"Head {k}: output X⊙BN(R)", z.AsSpan(head, plane).ToArray(), h, w, ColourMap.Diverging, Cell));
            }
            var subtitles = new List<string>();
            if (c > 1)
                subtitles.Add(FormattableString.Invariant($"Channel {ch} of {c}."));
            subtitles.Add("Ox: softmax of X⊙Wx along each row; Oy: softmax of X⊙Wy along each column; R = Ox⊙Oy (paper Fig. 3). " +
                "Signed stages on a diverging map centred on zero, the others on Viridis; each panel its own scale.");
            save(new Figure($"{name}: layer {l}, every head on {batch.Caption(b)}", subtitles, panels, 7), $"heads-layer{l}.png");
        }

        // Fig. 4–8: every layer's stages, one figure per image.
        var stages = layers.Select(layer => (
            Heads: layer.HeadOutputs!.Download(),
            Conv: layer.ConvOutput!.Download(),
            PreNorm: layer.PreNormOutput!.Download(),
            Norm: layer.NormOutput?.Download(),
            Output: layer.Output!.Download())).ToList();
        var images = batch.Images.Download();
        for (int b = 0; b < chosen.Count; b++)
        {
            var panels = new List<Panel?>();
            for (int l = 0; l < layers.Count; l++)
            {
                var s = stages[l];
                var layerInput = l == 0 ? images : stages[l - 1].Output;
                panels.Add(Image(l == 0 ? "Input" : $"Layer {l} input", Slice(layerInput, b, c, plane), c, h, w, ColourMap.Viridis));
                panels.Add(Image($"Layer {l} before conv\n(mean of {o.Heads} heads)", HeadMean(s.Heads, b, o.Heads, c, plane), c, h, w, ColourMap.Diverging));
                panels.Add(Image($"Layer {l} after conv", Slice(s.Conv, b, c, plane), c, h, w, ColourMap.Diverging));
                panels.Add(Image($"Layer {l} before norm\n({(layers[l].Skip ? "conv + skip" : "no skip")})", Slice(s.PreNorm, b, c, plane), c, h, w, ColourMap.Diverging));
                panels.Add(s.Norm is null
                    ? Charts.Note($"Layer {l} after norm", "No batchnorm", h, w, Cell)
                    : Image($"Layer {l} after norm", Slice(s.Norm, b, c, plane), c, h, w, ColourMap.Diverging));
                panels.Add(Image($"Layer {l} final output\n(ReLU)", Slice(s.Output, b, c, plane), c, h, w, ColourMap.Viridis));
            }
            save(new Figure($"{name}: every layer's stages on {batch.Caption(b)}", [
                "Before conv: the heads' outputs X⊙BN(Ox⊙Oy), averaged over the heads (paper Fig. 4-8). " +
                "Signed stages on a diverging map centred on zero, the others on Viridis; each panel its own scale.",
            ], panels, 6), FormattableString.Invariant($"stages-image{b}.png"));
        }
    }

    private static void ConvFigures(Conv2d conv1, Module net, string name, Dataset? test, List<int> chosen, Action<Figure, string> save)
    {
        var weight = conv1.Weight.Value.Download();
        int filters = conv1.OutChannels, cin = conv1.InChannels, kh = conv1.Kernel.H, kw = conv1.Kernel.W;
        int grid = (int)Math.Ceiling(Math.Sqrt(filters));
        var panels = new List<Panel?>();
        for (int ch = 0; ch < cin; ch++)
        {
            var (mosaic, rows, cols) = Mosaic(filters, grid, kh, kw, (f, i, j) => weight[((f * cin + ch) * kh + i) * kw + j], float.NaN);
            // One panel per input channel: all filters share its scale, so that their strengths compare.
            panels.Add(Charts.Heat(cin == 1 ? $"Conv1: {filters} filters, {kh}×{kw}" : $"Conv1 filters, input channel {ch}", mosaic, rows, cols,
                ColourMap.Diverging, 12, gapsAreNaN: true));
        }
        save(new Figure($"{name}: first convolution's filters", [
            "All filters on one scale: blue negative, red positive, white zero; grey lines separate the filters.",
        ], panels, Math.Min(cin, 3)), "conv1-filters.png");

        using var batch = Forward(net, test, chosen);
        if (batch is null)
            return;
        var images = batch.Images.Download();
        var maps = conv1.Forward(batch.Images).Download();
        int h = batch.Test.Height, w = batch.Test.Width, plane = h * w;
        int oh = conv1.OutputShape(batch.Images.Shape).H, ow = conv1.OutputShape(batch.Images.Shape).W;
        for (int b = 0; b < chosen.Count; b++)
        {
            var (mosaic, rows, cols) = Mosaic(filters, grid, oh, ow, (f, i, j) => maps[((b * filters + f) * oh + i) * ow + j], float.NaN);
            var input = Image("Input", Slice(images, b, cin, plane), cin, h, w, ColourMap.Viridis, 3 * Cell);
            var feature = Charts.Heat($"Conv1 output: {filters} maps (before ReLU)", mosaic, rows, cols, ColourMap.Diverging, 2, gapsAreNaN: true);
            save(new Figure($"{name}: first convolution on {batch.Caption(b)}", [
                "The feature maps share one scale (blue negative, red positive); grey lines separate them.",
            ], [input, feature], 2), FormattableString.Invariant($"conv1-maps-image{b}.png"));
        }
    }

    /// <summary>Tiles <paramref name="count"/> small arrays into a grid with one separator cell between them.</summary>
    private static (float[] Values, int Rows, int Cols) Mosaic(int count, int grid, int h, int w, Func<int, int, int, float> value, float separator)
    {
        int gridRows = (count + grid - 1) / grid;
        int rows = gridRows * (h + 1) - 1, cols = grid * (w + 1) - 1;
        var m = new float[rows * cols];
        Array.Fill(m, separator);
        for (int f = 0; f < count; f++)
        {
            int r0 = f / grid * (h + 1), c0 = f % grid * (w + 1);
            for (int i = 0; i < h; i++)
            {
                for (int j = 0; j < w; j++)
                    m[(r0 + i) * cols + c0 + j] = value(f, i, j);
            }
        }
        return (m, rows, cols);
    }

    /// <summary>A [C, H, W] tensor as a panel: a colour image for 3 channels (scaled to its minimum and maximum), a heat
    /// map for one, else the heat map of the mean over channels.</summary>
    private static Panel Image(string title, float[] values, int channels, int h, int w, ColourMap map, int cell = Cell)
    {
        int plane = h * w;
        if (channels == 3)
            return Charts.Colour(title, values[..plane], values[plane..(2 * plane)], values[(2 * plane)..(3 * plane)], h, w, cell);
        if (channels == 1)
            return Charts.Heat(title, values, h, w, map, cell);
        var mean = new float[plane];
        for (int ch = 0; ch < channels; ch++)
        {
            for (int i = 0; i < plane; i++)
                mean[i] += values[ch * plane + i] / channels;
        }
        return Charts.Heat(title + $" (mean of {channels} channels)", mean, h, w, map, cell);
    }

    private static float[] Slice(float[] t, int b, int c, int plane) => t.AsSpan(b * c * plane, c * plane).ToArray();

    /// <summary>Mean over heads of [N, K·C, H, W] for image b: [C, H, W].</summary>
    private static float[] HeadMean(float[] z, int b, int heads, int c, int plane)
    {
        var mean = new float[c * plane];
        for (int k = 0; k < heads; k++)
        {
            var part = z.AsSpan((b * heads + k) * c * plane, c * plane);
            for (int i = 0; i < mean.Length; i++)
                mean[i] += part[i] / heads;
        }
        return mean;
    }

    private static float[] Affine(float[] x, float[] weight, float[]? bias, int at, int plane)
    {
        var p = new float[plane];
        for (int i = 0; i < plane; i++)
            p[i] = x[i] * weight[at + i] + (bias?[at + i] ?? 0f);
        return p;
    }

    private static float[] Multiply(float[] a, float[] b)
    {
        var p = new float[a.Length];
        for (int i = 0; i < p.Length; i++)
            p[i] = a[i] * b[i];
        return p;
    }

    /// <summary>Softmax of each row (along the columns), in double precision.</summary>
    internal static float[] RowSoftmax(float[] v, int h, int w)
    {
        var s = new float[v.Length];
        for (int i = 0; i < h; i++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < w; j++)
                max = Math.Max(max, v[i * w + j]);
            for (int j = 0; j < w; j++)
                sum += Math.Exp(v[i * w + j] - max);
            for (int j = 0; j < w; j++)
                s[i * w + j] = (float)(Math.Exp(v[i * w + j] - max) / sum);
        }
        return s;
    }

    /// <summary>Softmax of each column (along the rows), in double precision.</summary>
    internal static float[] ColumnSoftmax(float[] v, int h, int w)
    {
        var s = new float[v.Length];
        for (int j = 0; j < w; j++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int i = 0; i < h; i++)
                max = Math.Max(max, v[i * w + j]);
            for (int i = 0; i < h; i++)
                sum += Math.Exp(v[i * w + j] - max);
            for (int i = 0; i < h; i++)
                s[i * w + j] = (float)(Math.Exp(v[i * w + j] - max) / sum);
        }
        return s;
    }
}
