// Your own model from the library's layers: a small CNN with an element-wise attention block, trained with the
// library's TrainingLoop on an image folder, saved, reloaded into a fresh network, and predicting.
//   dotnet run -- [IMAGE-FOLDER] [--device cpu|cuda|opencl]
// Without IMAGE-FOLDER it writes a tiny two-class folder of 12×12 PNGs (horizontal and vertical stripes) first.
using AttentionWise;
using AttentionWise.Layers;
using AttentionWise.Training;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;

string? folder = args.FirstOrDefault(a => !a.StartsWith("--"));
string? deviceName = args.SkipWhile(a => a != "--device").Skip(1).FirstOrDefault();
string work = Path.Combine(Path.GetTempPath(), $"aw-own-model-{Environment.ProcessId}");
Directory.CreateDirectory(work);
folder ??= WriteStripes(Path.Combine(work, "stripes"));

// 1. Data: DIR/train/<class>/*.png and DIR/test/<class>/*.png, decoded once (grayscale or RGB is detected).
var data = ImageFolder.Load(folder, new ImageFolderOptions());
var (train, test) = (data.Train, data.Test);
Console.WriteLine($"data: {train}; test {test.Count} images; classes {string.Join(", ", train.ClassNames)}");

// 2. The model: conv → batchnorm → ReLU → element-wise attention (2 heads, skip connection) → linear classifier.
using var device = ComputeDevice.Open(deviceName ?? "cpu");
Module Build() => new Sequential(device,
    new Conv2d(device, train.Channels, 4, kernelSize: 3, padding: 1),
    new BatchNorm2d(device, 4),
    new ReLU(device),
    new AttentionLayer(device, 4, train.Height, train.Width, heads: 2),
    new Linear(device, 4 * train.Height * train.Width, train.Classes));
using var net = Build();
Init.Apply(net, new Rng(7));                              // parameters are uninitialised until Init.Apply
net.Children[0].Module.ComputeInputGradient = false;      // nothing needs the gradient of the images

// 3. Train with the library's loop: reshuffled every epoch, the test set measured after each.
using var loss = new LogSoftmaxNllLoss(device);
using var adam = new Adam(device, net.NamedParameters(), lr: 0.01f);
var loop = new TrainingLoop(net, loss, adam, new TrainingOptions { Epochs = 6, BatchSize = 8, Seed = 1 });
var result = loop.Fit(train, test, new Progress());
Console.WriteLine($"training: {result.Status}, {net.ParameterCount} parameters on {device.Name}");

// 4. Save, then load into a freshly built network (a missing or unexpected tensor would be named in the error).
string checkpoint = Path.Combine(work, "own-model.safetensors");
Checkpoint.SaveModule(checkpoint, net, adam, result.Epochs.Count);
using var reloaded = Build();
var info = Checkpoint.LoadModule(checkpoint, reloaded);
Console.WriteLine($"saved and reloaded {checkpoint} (epoch {info.Epoch}, {new FileInfo(checkpoint).Length} bytes)");

// 5. Predict the test images with the reloaded network: softmax of the logits, the most probable class.
reloaded.Eval();                                          // batchnorm uses its running statistics
using var images = device.Upload(test.Shape, test.Images);
var logits = reloaded.Forward(images).Download();
int correct = 0;
for (int i = 0; i < test.Count; i++)
{
    var p = Predictor.Softmax(logits.AsSpan(i * test.Classes, test.Classes));
    int best = Array.IndexOf(p, p.Max());
    correct += best == test.Labels[i] ? 1 : 0;
    if (i < 3)
        Console.WriteLine($"  test image {i}: {test.ClassNames[best]} ({p[best]:P1}), truly {test.ClassNames[test.Labels[i]]}");
}
Console.WriteLine($"reloaded model: {correct}/{test.Count} test images right ({100.0 * correct / test.Count:F1} %)");
Directory.Delete(work, recursive: true);
return correct * 4 >= test.Count * 3 ? 0 : 1;           // the stripes are easy: fail the sample below 75 %

static string WriteStripes(string root)
{
    const int size = 12;
    var rng = new Random(3);
    foreach (var (split, count) in new[] { ("train", 48), ("test", 12) })
    {
        foreach (var (name, vertical) in new[] { ("horizontal", false), ("vertical", true) })
        {
            string dir = Path.Combine(root, split, name);
            Directory.CreateDirectory(dir);
            for (int n = 0; n < count; n++)
            {
                var pixels = new byte[size * size];
                int phase = rng.Next(3);
                for (int y = 0; y < size; y++)
                    for (int x = 0; x < size; x++)
                        pixels[y * size + x] = (byte)((((vertical ? x : y) + phase) % 3 == 0 ? 200 : 30) + rng.Next(40));
                ImageFolder.WritePng(Path.Combine(dir, $"{n:D3}.png"), 1, size, size, pixels);
            }
        }
    }
    return root;
}

sealed class Progress : ITrainingObserver
{
    public void EpochCompleted(EpochRow row) =>
        Console.WriteLine($"  epoch {row.Epoch}: loss sum {row.LossSum:F4}, train {row.TrainAccuracy:F1} %, test {row.TestAccuracy:F1} %");
}
